"""A small, strict Server-Sent Events reader: what a browser's ``EventSource`` would see.

Frames end at a blank line; ``data:`` lines of one frame are joined with newlines (then
parsed as JSON, as every tokenwire event is); comments (``:`` heartbeats) and ``retry:``
are skipped; a frame without data dispatches nothing. Lines may end in LF, CRLF or CR.

>>> with start_stream(client, "chat", {"input": "hi"}) as response:
...     events = list(iter_sse(response))
>>> text_of(events)
'Hello!'
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "SSE",
    "collect",
    "iter_sse",
    "parse_events",
    "parse_lines",
    "rejoin",
    "start_stream",
    "text_of",
]

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSE:
    """One dispatched event: its ``id:`` (``None`` without one), name and JSON data."""

    id: int | None
    event: str
    data: Any


def iter_sse(response: httpx.Response) -> Generator[SSE]:
    """The events of a streaming response, in order, as they arrive."""
    return parse_lines(response.iter_lines())


def parse_events(body: bytes) -> list[SSE]:
    """:func:`iter_sse` over a whole body already read."""
    return list(parse_lines(_LINE_END.split(body.decode())))


def parse_lines(lines: Iterable[str]) -> Generator[SSE]:
    """The events of a body given line by line (without their line endings)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                raw_id = fields.get("id")
                yield SSE(
                    int(raw_id) if raw_id else None,
                    fields.get("event") or "message",
                    json.loads("\n".join(data)),
                )
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


def start_stream(
    client: httpx.Client, route: str, body: dict[str, Any], **headers: str
) -> AbstractContextManager[httpx.Response]:
    """``POST /v1/routes/{route}/runs`` asking for an event stream; use it in a ``with``."""
    return client.stream(
        "POST",
        f"/v1/routes/{route}/runs",
        json=body,
        headers={"Accept": "text/event-stream", **headers},
    )


def collect(client: httpx.Client, route: str, body: dict[str, Any]) -> list[SSE]:
    """Every event of a run started on ``route``, to its end (the response must be 200)."""
    with start_stream(client, route, body) as response:
        assert response.status_code == 200, response.read()
        return list(iter_sse(response))


def rejoin(client: httpx.Client, run_id: str, after: int) -> list[SSE]:
    """The events of a run after sequence number ``after`` (``Last-Event-ID``), to its end."""
    with client.stream(
        "GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(after)}
    ) as response:
        assert response.status_code == 200, response.read()
        return list(iter_sse(response))


def text_of(events: Iterable[SSE]) -> str:
    """The text the ``token`` events carry, joined."""
    return "".join(e.data["text"] for e in events if e.event == "token")
