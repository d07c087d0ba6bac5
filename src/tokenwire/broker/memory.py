"""In-process broker: event logs as Python lists, readers woken by futures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from typing import Any, overload

from tokenwire.broker.base import EventLogClosed, EventLogFull
from tokenwire.events import Event

__all__ = ["MemoryBroker", "MemoryEventLog"]

# error + usage + run.end must always fit after the limit is hit.
_TERMINAL_RESERVE = 3


class MemoryEventLog:
    """Append-only list of events; ``events[i].seq == i + 1``."""

    __slots__ = ("_closed", "_end_waiters", "_events", "_limit", "_open", "_run_id", "_waiters")

    def __init__(self, run_id: str, max_events: int) -> None:
        self._run_id = run_id
        #: Appended to while the log is open; what readers see is ``_events``: this same
        #: list, and once closed its :class:`SettledEvents`.
        self._open: list[Event] = []
        self._events: Sequence[Event] = self._open
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
        events = self._open
        if len(events) >= self._limit and not terminal:
            raise EventLogFull(self._run_id)
        event = Event(len(events) + 1, type, data)
        events.append(event)
        if self._waiters:
            self._wake()
        return event

    def close(self) -> None:
        self._closed = True
        if self._events is self._open:
            self._events = SettledEvents(self._open)
            self._open = []
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

    def since(self, after: int) -> Sequence[Event]:
        return self._events[max(after, 0) :]

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None:
        if self._closed:
            waiter.set_result(None)
            return
        waiters = self._end_waiters if end_only else self._waiters
        if waiters:  # drop waiters something else already woke (a timer)
            waiters[:] = [w for w in waiters if not w.done()]
        waiters.append(waiter)

    async def read(self, after: int = 0) -> AsyncGenerator[Sequence[Event]]:
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


class SettledEvents(Sequence[Event]):
    """A closed log's events, text events as plain tuples.

    A finished run stays retrievable for ``retention_seconds``, and there may be thousands.
    As ``Event`` objects (with a dict each) every event is one more object for each full
    pass of CPython's cyclic collector to walk while the event loop stands still: 10,000
    retained 500-token runs are 5 million objects, seconds per pass. A token or reasoning
    event is kept as ``(seq, type, text, wire)`` instead — a tuple of strings and numbers,
    which CPython stops tracking at its next pass — and rebuilt when read (a rejoin after
    the end, the audit record). The few other events (start, tools, usage, end) stay as
    they are, so a retained run costs the collector a few objects however long it was.
    """

    __slots__ = ("_rows",)

    def __init__(self, events: Sequence[Event]) -> None:
        self._rows = tuple(map(_settle, events))

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            return [_event(row) for row in self._rows[index]]
        return _event(self._rows[index])


_Row = tuple[int, str, str, bytes | None]


def _settle(event: Event) -> Event | _Row:
    data = event.data
    text = data.get("text") if len(data) == 1 else None
    if type(text) is str:  # {"text": ...}: tokens and reasoning, nearly every event
        return (event.seq, str(event.type), text, event.wire)
    return event


def _event(row: Event | _Row) -> Event:
    if isinstance(row, Event):
        return row
    event = Event(row[0], row[1], {"text": row[2]})
    event.wire = row[3]
    return event
