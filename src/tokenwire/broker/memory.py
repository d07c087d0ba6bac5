"""In-process broker: event logs as Python lists, readers woken by futures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tokenwire.broker.base import EventLogClosed, EventLogFull
from tokenwire.events import Event

__all__ = ["MemoryBroker", "MemoryEventLog"]

# error + usage + run.end must always fit after the limit is hit.
_TERMINAL_RESERVE = 3


class MemoryEventLog:
    """Append-only list of events; ``events[i].seq == i + 1``."""

    __slots__ = ("_closed", "_end_waiters", "_events", "_limit", "_run_id", "_waiters")

    def __init__(self, run_id: str, max_events: int) -> None:
        self._run_id = run_id
        self._events: list[Event] = []
        self._limit = max(max_events - _TERMINAL_RESERVE, 1)
        self._closed = False
        self._waiters: list[asyncio.Future[None]] = []
        self._end_waiters: list[asyncio.Future[None]] = []

    @property
    def run_id(self) -> str:
        return self._run_id

    @property
    def last_seq(self) -> int:
        return len(self._events)

    @property
    def closed(self) -> bool:
        return self._closed

    def append(self, type: str, data: dict[str, Any], *, terminal: bool = False) -> Event:
        if self._closed:
            raise EventLogClosed(self._run_id)
        events = self._events
        if len(events) >= self._limit and not terminal:
            raise EventLogFull(self._run_id)
        event = Event(len(events) + 1, type, data)
        events.append(event)
        if self._waiters:
            self._wake()
        return event

    def close(self) -> None:
        self._closed = True
        self._wake()
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def since(self, after: int) -> list[Event]:
        return self._events[after:]

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None:
        if self._closed:
            waiter.set_result(None)
            return
        waiters = self._end_waiters if end_only else self._waiters
        if waiters:  # drop waiters something else already woke (a timer)
            waiters[:] = [w for w in waiters if not w.done()]
        waiters.append(waiter)

    async def read(self, after: int = 0) -> AsyncIterator[Sequence[Event]]:
        cursor = max(after, 0)
        loop = asyncio.get_running_loop()
        while True:
            batch = self._events[cursor:]
            if batch:
                cursor += len(batch)
                yield batch
                continue
            if self._closed:
                return
            waiter = loop.create_future()
            self.wait(waiter)
            await waiter


class MemoryBroker:
    """Keeps every run's log in this process."""

    def __init__(self, max_events_per_run: int = 100_000) -> None:
        self._max_events = max_events_per_run
        self._logs: dict[str, MemoryEventLog] = {}

    def create(self, run_id: str) -> MemoryEventLog:
        log = self._new_log(run_id)
        self._logs[run_id] = log
        return log

    def _new_log(self, run_id: str) -> MemoryEventLog:
        return MemoryEventLog(run_id, self._max_events)

    def get(self, run_id: str) -> MemoryEventLog | None:
        return self._logs.get(run_id)

    def discard(self, run_id: str) -> None:
        self._logs.pop(run_id, None)

    async def ping(self) -> bool:
        return True
