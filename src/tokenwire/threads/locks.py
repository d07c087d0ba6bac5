"""Which run holds each thread: runs of one thread never interleave.

A thread is claimed for a run when it starts and released when it ends. In one process the
claims are a dict (:class:`LocalClaims`); replicas sharing runs through Redis claim threads
there instead, by compare-and-set (``tokenwire.runs.idempotency.SharedClaims``, which has
the same three calls), so two replicas never run one thread at once. Whether a start
waits, replaces the holder or is refused is the thread gate's decision
(``tokenwire.gateway.threads``).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Claims", "LocalClaims"]


class Claims(Protocol):
    async def claim(self, scope: str, key: str, run_id: str) -> str | None:
        """Take ``key`` for ``run_id``: None if it was free, else the run that holds it."""

    async def take_over(self, scope: str, key: str, holder: str | None, run_id: str) -> str | None:
        """Point ``key`` at ``run_id`` if it still names ``holder``: None when done, else
        whom it names now."""

    async def release(self, scope: str, key: str, run_id: str) -> None:
        """Free ``key`` if ``run_id`` still holds it."""


class LocalClaims:
    """:class:`Claims` in this process. Check and set happen with no ``await`` between
    them, so two starts on one event loop cannot both win."""

    def __init__(self) -> None:
        self._holders: dict[tuple[str, str], str] = {}

    def holder(self, scope: str, key: str) -> str | None:
        return self._holders.get((scope, key))

    async def claim(self, scope: str, key: str, run_id: str) -> str | None:
        return await self.take_over(scope, key, None, run_id)

    async def take_over(self, scope: str, key: str, holder: str | None, run_id: str) -> str | None:
        current = self._holders.get((scope, key))
        if current is not None and current != holder:
            return current
        self._holders[(scope, key)] = run_id
        return None

    async def release(self, scope: str, key: str, run_id: str) -> None:
        if self._holders.get((scope, key)) == run_id:
            del self._holders[(scope, key)]
