"""The broker interface: where run event logs live.

Deliberately narrow, so the in-memory broker and the Redis Streams one
(:mod:`tokenwire.broker.redis`) are interchangeable:

* ``append`` is synchronous and cheap (a token costs an append, not an await); a remote
  broker buffers and flushes in batches behind it.
* ``read`` replays from a cursor and then follows the log live, yielding *batches* of
  events: a slow reader gets many events per wake-up, which is where adaptive coalescing
  comes from without merging (and so without renumbering) events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from tokenwire.events import Event

__all__ = ["Broker", "EventLog", "EventLogClosed", "EventLogFull"]


class EventLogFull(Exception):
    """The log reached its event limit; only terminal events may still be appended."""


class EventLogClosed(Exception):
    """The run has ended (``run.end`` was appended); the log takes nothing more."""


class EventLog(Protocol):
    @property
    def run_id(self) -> str: ...

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest event (0 when empty)."""

    @property
    def closed(self) -> bool: ...

    def append(self, type: str, data: dict[str, Any], *, terminal: bool = False) -> Event:
        """Append one event and wake readers.

        Raises ``EventLogFull`` past the limit unless ``terminal`` (error, usage, run.end
        always fit: the limit keeps room for them), and ``EventLogClosed`` after ``close``.
        """

    def close(self) -> None:
        """No more events: readers drain what is left and stop."""

    def read(self, after: int = 0) -> AsyncIterator[Sequence[Event]]:
        """Events with ``seq > after`` in order, in batches; ends once the log is closed."""

    def since(self, after: int) -> Sequence[Event]:
        """The events with ``seq > after`` held now (no waiting): a writer's poll."""

    def wait(self, waiter: asyncio.Future[None], *, end_only: bool = False) -> None:
        """Resolve ``waiter`` at the next append or at close (at once if closed); with
        ``end_only``, at close only.

        The callback form of ``read``: a writer that also waits for timers and the client
        waits on one future instead of an async generator per subscriber."""


class Broker(Protocol):
    def create(self, run_id: str) -> EventLog:
        """A new, empty log for ``run_id``."""

    def get(self, run_id: str) -> EventLog | None: ...

    def discard(self, run_id: str) -> None:
        """Forget a run's log (retention expired or evicted)."""

    async def ping(self) -> bool:
        """Whether the broker is reachable (``/readyz``)."""
