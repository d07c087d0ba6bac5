"""A small, strict SSE reader for tests: parses what a browser's EventSource would."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SSE:
    id: int | None
    event: str
    data: Any


def iter_sse(response: httpx.Response) -> Generator[SSE]:
    """Events in order; comments (heartbeats) and ``retry:`` are skipped."""
    return parse_lines(response.iter_lines())


def parse_events(body: bytes) -> list[SSE]:
    """:func:`iter_sse` over a whole body already read."""
    return list(parse_lines(body.decode().split("\n")))


def parse_lines(lines: Iterable[str]) -> Generator[SSE]:
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                raw_id = fields.get("id")
                yield SSE(
                    int(raw_id) if raw_id else None,
                    fields.get("event", "message"),
                    json.loads(fields["data"]),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value


def start_stream(client: httpx.Client, route: str, body: dict[str, Any], **headers: str) -> Any:
    return client.stream(
        "POST",
        f"/v1/routes/{route}/runs",
        json=body,
        headers={"Accept": "text/event-stream", **headers},
    )


def collect(client: httpx.Client, route: str, body: dict[str, Any]) -> list[SSE]:
    with start_stream(client, route, body) as response:
        assert response.status_code == 200, response.read()
        return list(iter_sse(response))


def rejoin(client: httpx.Client, run_id: str, after: int) -> list[SSE]:
    with client.stream(
        "GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(after)}
    ) as response:
        assert response.status_code == 200, response.read()
        return list(iter_sse(response))


def text_of(events: list[SSE]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "token")
