"""Following a run's log as one subscriber, for protocols that are not plain SSE.

``EventStreamResponse`` already attaches/detaches streaming HTTP subscribers; these
helpers do the same for a response that waits for the whole run (non-streaming OpenAI,
LangServe ``invoke``): the waiting client counts as a subscriber, so when it goes away
the run's ``on_disconnect`` policy applies exactly as for a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from starlette.types import Receive

from tokenwire.broker.base import EventLog
from tokenwire.events import Event, EventType
from tokenwire.runs.delivery import DeliveryLag, oldest_token_at
from tokenwire.runs.run import Run

__all__ = [
    "ClientGone",
    "Feed",
    "LogFeed",
    "WireEncoder",
    "collect_run",
    "collect_runs",
    "events_of",
    "wait_for_disconnect",
]


class ClientGone(Exception):
    """The client disconnected before the run ended."""


async def events_of(batches: AsyncIterator[Sequence[Event]]) -> AsyncGenerator[Event, None]:
    """Flatten a log reader's batches."""
    try:
        async for batch in batches:
            for event in batch:
                yield event
    finally:
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()


class WireEncoder(Protocol):
    """A protocol's per-response encoder: canonical events in, wire bytes out.

    ``closed`` turns true once the encoder has written its protocol's end (after
    ``run.end``, or early when the protocol cannot carry what happened, such as a
    ``run.restart`` on an append-only stream); the response then ends.
    """

    @property
    def closed(self) -> bool: ...

    def encode(self, events: Sequence[Event]) -> bytes: ...


class EventEncoder(ABC):
    """Base of the stateful encoders: encodes events one by one until ``closed``."""

    __slots__ = ("closed",)

    def __init__(self) -> None:
        self.closed = False

    def encode(self, events: Sequence[Event]) -> bytes:
        parts = []
        for event in events:
            if self.closed:
                break
            parts.append(self._encode(event))
        return b"".join(parts)

    @abstractmethod
    def _encode(self, event: Event) -> bytes:
        """One event's wire bytes (may be empty); set ``closed`` after the protocol's end."""


class Feed(Protocol):
    """What a streaming response writes: bytes that are ready now, and a way to be woken.

    ``take`` returns everything ready (``b""`` when nothing is); ``wait`` resolves the future
    when more may be ready (``end_only``: once the source ends); ``ended`` turns true once
    nothing more will be added, and ``finished`` once, in addition, everything was taken."""

    @property
    def ended(self) -> bool: ...

    @property
    def finished(self) -> bool: ...

    def take(self) -> bytes: ...

    def written(self) -> None:
        """What the last ``take`` returned is on the socket now (delivery lag's moment)."""

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None: ...

    async def aclose(self) -> None: ...


class LogFeed:
    """One subscriber's cursor in a run's log, encoded by its protocol's encoder.

    Everything the log gained since the last ``take`` becomes one write however many events
    it holds — which is how a busy gateway coalesces without renumbering events.

    With ``delivery`` (the run's, from its recorder) each write reports the lag of the
    oldest token in it; tokens logged before this subscriber came (a replay) are not lag."""

    __slots__ = ("_cursor", "_delivery", "_encoder", "_log", "_pending_at", "_since")

    def __init__(
        self,
        log: EventLog,
        encoder: WireEncoder,
        after: int = 0,
        *,
        delivery: DeliveryLag | None = None,
    ) -> None:
        self._log = log
        self._encoder = encoder
        self._cursor = max(after, 0)
        self._delivery = delivery
        self._since = delivery.now() if delivery is not None else 0.0
        self._pending_at: float | None = None

    @property
    def ended(self) -> bool:
        return self._encoder.closed or self._log.closed

    @property
    def finished(self) -> bool:
        if self._encoder.closed:
            return True
        return self._log.closed and self._cursor >= self._log.last_seq

    def take(self) -> bytes:
        events = self._log.since(self._cursor)
        if not events:
            return b""
        self._cursor += len(events)
        if self._delivery is not None:
            at = oldest_token_at(events)
            self._pending_at = at if at is not None and at >= self._since else None
        return self._encoder.encode(events)

    def written(self) -> None:
        at, self._pending_at = self._pending_at, None
        if at is not None and self._delivery is not None:
            self._delivery.written(at)

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None:
        self._log.wait(waiter, end_only=end_only)

    async def aclose(self) -> None:
        return None


async def collect_run(
    run: Run, disconnected: Callable[[], Awaitable[None]], after: int = 0
) -> list[Event]:
    """Every event of ``run`` after ``after`` up to ``run.end``, as one subscriber.

    ``disconnected`` completes when the client goes away; then the subscriber detaches
    (which may cancel the run) and :class:`ClientGone` is raised.
    """
    [events] = await collect_runs([run], disconnected, after)
    return events


async def collect_runs(
    runs: Sequence[Run], disconnected: Callable[[], Awaitable[None]], after: int = 0
) -> list[list[Event]]:
    """:func:`collect_run` for several runs of one request (LangServe ``batch``)."""
    for run in runs:
        run.attach()
    try:
        collector: asyncio.Future[list[list[Event]]] = asyncio.ensure_future(
            asyncio.gather(*[_collect(r, after) for r in runs])
        )
        watcher: asyncio.Future[Any] = asyncio.ensure_future(disconnected())
        done, _ = await asyncio.wait([collector, watcher], return_when=asyncio.FIRST_COMPLETED)
        for task in (collector, watcher):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if collector not in done:
            raise ClientGone(", ".join(r.id for r in runs))
        return list(collector.result())
    finally:
        for run in runs:
            run.detach()


async def _collect(run: Run, after: int) -> list[Event]:
    events: list[Event] = []
    stream = events_of(run.log.read(after))
    try:
        async for event in stream:
            events.append(event)
            if event.type == EventType.RUN_END:
                break
    finally:
        await stream.aclose()
    return events


async def wait_for_disconnect(receive: Receive) -> None:
    """Return once the ASGI peer disconnects (call after the request body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass
