"""A lean load generator: raw HTTP/1.1 over ``asyncio`` protocols, no HTTP library.

A stream is one connection (``Connection: close``, so the end of the body is EOF). Per read
the client does a ``bytes in bytes`` search for the first-token marker until it has seen it
and, only when asked, keeps the body for a check after the clock has stopped — so a token
costs the client one ``data_received`` call, at most.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import orjson

__all__ = ["Stream", "Target", "open_stream", "stream_once", "texts"]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to start a stream on one kind of server."""

    kind: str
    port: int
    path: str
    marker: bytes  # bytes that begin every answer-token event
    route_body: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, kind: str, port: int, route: str = "chat") -> Target:
        kind = protocol(kind)
        if kind == "bare":
            return cls(kind, port, "/stream", b"data: ")
        if kind == "langserve":
            return cls(kind, port, "/chat/stream", b"event: data")
        return cls(kind, port, f"/v1/routes/{route}/runs", b"event: token")

    def request(self, text: str) -> bytes:
        body = orjson.dumps({**self.route_body, "input": text})
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


class Stream(asyncio.Protocol):
    """One streaming request; times are ``time.perf_counter()``."""

    def __init__(
        self,
        request: bytes,
        marker: bytes,
        *,
        keep_body: bool = False,
        close_on_first: bool = False,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.started = time.perf_counter()
        self.first_byte: float | None = None
        self.first_token: float | None = None
        self.closed_at: float | None = None  # when this client closed the socket itself
        self.ended: float | None = None
        self.status = 0
        self.nbytes = 0
        self.reads = 0
        self.error: str | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self.first_seen: asyncio.Future[None] = loop.create_future()
        self._request = request
        self._marker = marker
        self._tail = b""
        self._body: list[bytes] | None = [] if keep_body else None
        self._close_on_first = close_on_first
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's own transport
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.nbytes += len(data)
        self.reads += 1
        if self._body is not None:
            self._body.append(data)
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
            self.status = int(data[9:12]) if data.startswith(b"HTTP/1.1 ") else -1
            if not self.opened.done():
                self.opened.set_result(None)
        if self.first_token is None:
            window = self._tail + data
            if self._marker in window:
                self.first_token = time.perf_counter()
                self.first_seen.set_result(None)
                if self._close_on_first and self._transport is not None:
                    self._transport.close()
                    self.closed_at = time.perf_counter()
            else:
                self._tail = window[-len(self._marker) :]

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = time.perf_counter()
        if exc is not None:
            self.error = type(exc).__name__
        for future in (self.opened, self.first_seen, self.done):
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def duration(self) -> float:
        assert self.ended is not None
        return self.ended - self.started

    @property
    def body(self) -> bytes:
        raw = b"".join(self._body or [])
        head, _, rest = raw.partition(b"\r\n\r\n")
        return _dechunk(rest) if b"chunked" in head.lower() else rest


async def open_stream(
    target: Target, text: str, *, keep_body: bool = False, close_on_first: bool = False
) -> Stream:
    stream = Stream(
        target.request(text), target.marker, keep_body=keep_body, close_on_first=close_on_first
    )
    try:
        await asyncio.get_running_loop().create_connection(lambda: stream, "127.0.0.1", target.port)
    except OSError as exc:
        stream.error = type(exc).__name__
        stream.ended = time.perf_counter()
        for future in (stream.opened, stream.first_seen, stream.done):
            if not future.done():
                future.set_result(None)
    return stream


async def stream_once(target: Target, text: str, *, keep_body: bool = False) -> Stream:
    stream = await open_stream(target, text, keep_body=keep_body)
    await stream.done
    return stream


def _dechunk(data: bytes) -> bytes:
    out = []
    pos = 0
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            break
        size = int(data[pos:line_end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.append(data[line_end + 2 : line_end + 2 + size])
        pos = line_end + 2 + size + 2
    return b"".join(out)


def protocol(kind: str) -> str:
    """The wire protocol a server kind speaks: ``tokenwire-2w`` (two workers) and
    ``tokenwire-redis`` (the Redis broker) are tokenwire."""
    return "tokenwire" if kind.startswith("tokenwire") else kind


def texts(kind: str, body: bytes) -> list[str]:
    """The answer-text deltas of a finished stream, one per event (a check, not timed)."""
    kind = protocol(kind)
    out: list[str] = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        lines = block.split(b"\n")
        event = next((ln[7:] for ln in lines if ln.startswith(b"event: ")), b"")
        data = next((ln[6:] for ln in lines if ln.startswith(b"data: ")), None)
        if data is None:
            continue
        if kind == "bare":
            out.append(orjson.loads(data)["text"])
        elif kind == "langserve" and event == b"data":
            out.append(orjson.loads(data)["content"])
        elif kind == "tokenwire" and event == b"token":
            out.append(orjson.loads(data)["text"])
    return out
