"""An SSE response that streams from a feed (usually a run's log) and minds the connection.

The response's own task is the writer: it takes whatever the feed has ready, writes it in
one ``send``, and otherwise waits on a single future that whichever comes first resolves —
new events in the log, the heartbeat timer, the lifetime timer, the client leaving. Per open
stream that is one extra task (the disconnect watcher, which must sit in ``receive()``) and
one timer, instead of a pump, a heartbeat and a watcher task each.

Adaptive coalescing: once tokens flow faster than one write per ``coalesce_seconds`` (the
last two writes came within it), the writer waits out the rest of that interval, so what
arrives meanwhile goes out in the same write; the first token, a token after a pause and
the end of the stream are written at once. Events are never merged or
renumbered, so every ``id:`` stays resumable. ``coalesce_seconds=0`` turns it off.

The feed is always closed, and ``on_close`` always runs (that is how a subscriber detaches).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tokenwire.config import Settings
from tokenwire.protocols.native_sse import HEARTBEAT
from tokenwire.protocols.subscription import Feed, LogFeed, WireEncoder
from tokenwire.runs.run import Run

__all__ = ["SSE_HEADERS", "EventStreamResponse", "IteratorFeed", "run_stream"]

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


class EventStreamResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        body: Feed,
        *,
        preamble: bytes = b"",
        heartbeat_seconds: float = 10.0,
        max_seconds: float = 3600.0,
        coalesce_seconds: float = 0.0,
        on_close: Callable[[], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        # Not Response.__init__: that would add a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers({**SSE_HEADERS, **(headers or {})})
        self._feed = body
        self._preamble = preamble
        self._heartbeat = heartbeat_seconds
        self._max_seconds = max_seconds
        self._coalesce = coalesce_seconds
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        writer = _Writer(self._feed, send, self._heartbeat, self._coalesce)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await writer.run(receive, self._max_seconds, self._preamble)
        finally:
            writer.stop()
            await self._feed.aclose()
            if self._on_close is not None:
                self._on_close()


def run_stream(
    run: Run,
    encoder: WireEncoder,
    settings: Settings,
    *,
    after: int = 0,
    preamble: bytes = b"",
    headers: dict[str, str] | None = None,
) -> EventStreamResponse:
    """A run's log after ``after`` as an SSE response, in one protocol's encoding; the
    client counts as a subscriber from now until the response closes."""
    run.attach()
    recorder = getattr(run, "recorder", None)  # another replica's run has none here
    delivery = recorder.delivery if recorder is not None else None
    return EventStreamResponse(
        LogFeed(run.log, encoder, after, delivery=delivery),
        preamble=preamble,
        heartbeat_seconds=settings.heartbeat_seconds,
        max_seconds=settings.max_stream_seconds,
        coalesce_seconds=settings.coalesce_seconds,
        on_close=run.detach,
        headers={"X-Run-Id": run.id, **(headers or {})},
    )


class _Writer:
    """One connection's writer: the state the timers and the watcher wake it with."""

    __slots__ = (
        "_beat",
        "_coalesce",
        "_deadline",
        "_expired",
        "_feed",
        "_gone",
        "_heartbeat",
        "_last_data",
        "_last_write",
        "_loop",
        "_pace",
        "_send",
        "_timer",
        "_waiter",
        "_watcher",
    )

    def __init__(self, feed: Feed, send: Send, heartbeat: float, coalesce: float) -> None:
        self._feed = feed
        self._send = send
        self._heartbeat = heartbeat
        self._coalesce = coalesce
        self._loop = asyncio.get_running_loop()
        self._last_write = self._loop.time()  # any write (heartbeats count): idle since
        self._last_data = float("-inf")  # the last write of events: coalescing's clock
        self._pace = float("inf")  # the time between the last two writes of events
        self._waiter: asyncio.Future[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._beat = self._expired = self._gone = False

    async def run(self, receive: Receive, max_seconds: float, preamble: bytes = b"") -> None:
        """Write until the feed is finished, time ran out (both end the body) or the client
        left (nothing more may be sent).

        The first write waits for one turn of the loop, so a run started just before this
        response has made its first step: its opening events (and a fast model's first
        token) go out together with ``preamble`` instead of in writes of their own. The last
        write carries the end of the body. A write is a system call and the client's wake-up:
        one stream used to make three more of them than it needed."""
        loop = self._loop
        self._watcher = loop.create_task(_wait_for_disconnect(receive))
        self._watcher.add_done_callback(self._client_left)
        self._deadline = loop.time() + max_seconds
        self._timer = loop.call_at(
            min(self._last_write + self._heartbeat, self._deadline), self._tick
        )
        with contextlib.suppress(OSError):  # the socket went away mid-write
            await asyncio.sleep(0)
            await self._write_all(preamble)

    async def _write_all(self, pending: bytes) -> None:
        feed, send, loop = self._feed, self._send, self._loop
        while True:
            if self._gone:
                return
            data = feed.take()
            chunk = pending + data if pending else data
            pending = b""
            if feed.finished or self._expired:
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                feed.written()
                return
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                feed.written()
                now = self._last_write = loop.time()
                if data:  # a preamble alone says nothing about the stream's pace
                    self._pace, self._last_data = now - self._last_data, now
                continue
            if self._beat:
                self._beat = False
                await send({"type": "http.response.body", "body": HEARTBEAT, "more_body": True})
                self._last_write = loop.time()
                continue
            await self._wait(feed)
            if self._should_hold(feed):
                await self._hold(feed, self._last_data + self._coalesce - loop.time())

    def _should_hold(self, feed: Feed) -> bool:
        """Hold the next write back only while the stream is proven fast (its last two writes
        came within the interval) and more may still come: a first token, a token after a
        pause and the stream's end are written at once."""
        if not self._coalesce or self._pace >= self._coalesce or feed.ended:
            return False
        if self._gone or self._beat or self._expired:
            return False
        return self._loop.time() < self._last_data + self._coalesce

    async def _wait(self, feed: Feed) -> None:
        waiter = self._waiter = self._loop.create_future()
        feed.wait(waiter)
        await waiter

    async def _hold(self, feed: Feed, seconds: float) -> None:
        """Wait ``seconds``, or less if the feed ends (its end is never held back)."""
        waiter = self._waiter = self._loop.create_future()
        feed.wait(waiter, end_only=True)
        handle = self._loop.call_later(seconds, _resolve, waiter)
        try:
            await waiter
        finally:
            handle.cancel()

    def _wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    def _tick(self) -> None:
        """The one timer of a stream (a libuv timer costs ~600 bytes): heartbeat and lifetime."""
        now = self._loop.time()
        if now >= self._deadline:
            self._expired = True
            self._wake()
            return
        due = self._last_write + self._heartbeat
        if now >= due:
            self._beat = True
            self._wake()
            due = now + self._heartbeat
        self._timer = self._loop.call_at(min(due, self._deadline), self._tick)

    def _client_left(self, watcher: asyncio.Task[None]) -> None:
        if not watcher.cancelled():
            self._gone = True
            self._wake()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class IteratorFeed:
    """Any async iterator of bytes as a feed, driven by its own task — for streams that do
    not come from a run's log (the dashboard's periodic summaries)."""

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._ready: list[bytes] = []
        self._error: BaseException | None = None
        self._done = False
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        return self._done

    @property
    def finished(self) -> bool:
        return self._done and not self._ready

    def take(self) -> bytes:
        if self._error is not None:
            raise self._error
        chunk, self._ready = b"".join(self._ready), []
        return chunk

    def written(self) -> None:
        return None  # not a run's tokens: no delivery lag

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None:
        self._waiter = waiter
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drive())
        elif self._done or (self._ready and not end_only):
            _resolve(waiter)

    async def _drive(self) -> None:
        try:
            async for chunk in self._chunks:
                self._ready.append(chunk)
                self._wake()
        except Exception as exc:
            self._error = exc
        finally:
            self._done = True
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        aclose = getattr(self._chunks, "aclose", None)
        if aclose is not None:
            await aclose()
