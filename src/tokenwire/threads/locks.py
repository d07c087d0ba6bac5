"""Per-thread run locks: a second run of a live thread is refused, never interleaved."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ThreadBusy", "ThreadLocks"]


class ThreadBusy(Exception):
    """The thread already has a live run (HTTP 409 unless a ``multitask`` strategy applies)."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"thread {thread_id!r} has a live run {run_id!r}")
        self.thread_id = thread_id
        self.run_id = run_id


class ThreadLocks:
    """Which run holds each thread, in this process (Redis shares it across replicas later)."""

    def __init__(self) -> None:
        self._holders: dict[str, str] = {}

    def holder(self, thread_id: str) -> str | None:
        """The run id that holds ``thread_id``, or ``None`` when the thread is idle."""
        return self._holders.get(thread_id)

    @asynccontextmanager
    async def hold(self, thread_id: str, run_id: str) -> AsyncIterator[None]:
        """Hold ``thread_id`` for ``run_id`` while the block runs; :class:`ThreadBusy` if held.

        Check and claim happen with no ``await`` between them, so two starts on one event
        loop cannot both win.
        """
        current = self._holders.get(thread_id)
        if current is not None:
            raise ThreadBusy(thread_id, current)
        self._holders[thread_id] = run_id
        try:
            yield
        finally:
            if self._holders.get(thread_id) == run_id:
                del self._holders[thread_id]
