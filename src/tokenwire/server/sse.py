"""An SSE response that streams from a run's log and minds the connection.

One task group per connection: the body pump, a disconnect watcher and a heartbeat; the
first to finish (stream done, client gone, lifetime over) cancels the others. The upstream
iterator is always closed, and ``on_close`` always runs (that is how a subscriber detaches).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tokenwire.protocols.native_sse import HEARTBEAT

__all__ = ["SSE_HEADERS", "EventStreamResponse"]

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: AsyncIterator[bytes],
        *,
        preamble: bytes = b"",
        heartbeat_seconds: float = 10.0,
        max_seconds: float = 3600.0,
        on_close: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # Not Response.__init__: that would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})
        self._body = body
        self._preamble = preamble
        self._heartbeat = heartbeat_seconds
        self._max_seconds = max_seconds
        self._on_close = on_close
        self._idle_since = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        tasks: list[asyncio.Task[None]] = []
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self._preamble, "more_body": True})
            self._idle_since = loop.time()
            tasks = [
                loop.create_task(self._pump(send)),
                loop.create_task(_wait_for_disconnect(receive)),
                loop.create_task(self._beat(send)),
            ]
            done, _ = await asyncio.wait(
                tasks, timeout=self._max_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            await _cancel(tasks)
            if not _client_gone(done, tasks[0], tasks[1]):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # Also when this response itself is cancelled (server shutdown): the pump must
            # have stopped before its iterator is closed.
            await _cancel(tasks)
            aclose = getattr(self._body, "aclose", None)
            if aclose is not None:
                await aclose()
            if self._on_close is not None:
                self._on_close()

    async def _pump(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        async for chunk in self._body:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self._idle_since = loop.time()

    async def _beat(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = self._idle_since + self._heartbeat
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
            self._idle_since = loop.time()


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _client_gone(
    done: set[asyncio.Task[None]], pump: asyncio.Task[None], watcher: asyncio.Task[None]
) -> bool:
    if watcher in done:
        return True
    if pump in done:
        error = pump.exception()
        if isinstance(error, OSError):  # the socket went away mid-write
            return True
        if error is not None:
            raise error
    return False


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
