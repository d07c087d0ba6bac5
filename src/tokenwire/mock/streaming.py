"""The ASGI response that plays a mock reply while watching for the client to leave.

Sending and listening run in one task group: when ``receive()`` yields ``http.disconnect``
the ledger records it at once (also mid-sleep) and the sender is cancelled. A ``DROP`` frame
returns without ending the body, which makes uvicorn close the transport: the client sees an
unterminated chunked body (or a short Content-Length body), not a clean end. uvicorn logs
that as an error; :func:`quiet_deliberate_drops` filters out exactly those log lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextvars import ContextVar

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tokenwire.mock.ledger import MockLedger, RequestRecord
from tokenwire.mock.playback import DROP, STALL, Frame

__all__ = ["MockResponse", "quiet_deliberate_drops"]

_DROPPING: ContextVar[bool] = ContextVar("tokenwire_mock_dropping", default=False)


class _DeliberateDropFilter(logging.Filter):
    """Hides uvicorn's "returned without completing response" for the mock's own drops.

    uvicorn logs it from the task that ran the app, which still sees the flag set there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_DROPPING.get() and "without completing response" in record.getMessage())


def quiet_deliberate_drops() -> None:
    """Install the filter on ``uvicorn.error`` (once); other apps' log lines are untouched."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DeliberateDropFilter) for f in logger.filters):
        logger.addFilter(_DeliberateDropFilter())


class MockResponse(Response):
    """Sends ``frames`` on their schedule and records the outcome in ``ledger``.

    With ``eager=True`` (streaming) headers go out immediately; otherwise with the first body.
    """

    def __init__(
        self,
        frames: list[Frame],
        *,
        ledger: MockLedger,
        record: RequestRecord,
        media_type: str,
        headers: Mapping[str, str] | None = None,
        eager: bool = True,
    ) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        self.frames = frames
        self.ledger = ledger
        self.record = record
        self.eager = eager
        self._started = False
        self._stalling = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                await self._play(send)
                group.cancel_scope.cancel()
        finally:
            self.ledger.finish(self.record, "error")

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.ledger.finish(self.record, "stalled" if self._stalling else "client_disconnected")
        scope.cancel()

    async def _start(self, send: Send) -> None:
        self._started = True
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )

    async def _play(self, send: Send) -> None:
        record = self.record
        if self.eager:
            await self._start(send)
        target = anyio.current_time()
        for kind, delay, body, tokens in self.frames:
            if kind == STALL:
                self._stalling = True
                await anyio.sleep(delay)
                self._stalling = False
                target = anyio.current_time()
                continue
            if delay:
                target += delay
                wait = target - anyio.current_time()
                if wait > 0:
                    await anyio.sleep(wait)
            if not self._started:
                await self._start(send)
            if kind == DROP:
                self.ledger.finish(record, "dropped")
                _DROPPING.set(True)
                return
            await send({"type": "http.response.body", "body": body, "more_body": True})
            if tokens:
                if record.first_token_at is None:
                    record.first_token_at = time.monotonic()
                record.tokens_sent += tokens
        # Recorded before the last send: once the body is complete, uvicorn answers every
        # receive() with http.disconnect, which must not read as the client leaving.
        self.ledger.finish(record, "completed")
        await send({"type": "http.response.body", "body": b"", "more_body": False})
