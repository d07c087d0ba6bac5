"""``@action`` calls in flight, claimed in Redis so that replicas see them.

The ledger's row says what a call did; while the call runs its key is also claimed in
Redis (:class:`~tokenwire.runs.idempotency.SharedClaims`, the claims idempotency keys and
threads use), held for ``replica_ttl_seconds`` and renewed by this replica's heartbeat.
A duplicate on another replica finds the claim and waits for the first call (it is handed
the running row, or a ``running`` entry naming the holder). A lapsed claim hands nothing
over by itself: a duplicate that finds the row ``running`` with no claim gets the row, and
the decorator takes it over only once the holder run is not alive
(:attr:`~tokenwire.actions.scope.ActionScope.alive`) — a replica that died, whose runs
its survivors' sweeper ended; a live replica whose loop was blocked past its TTL is waited
for. Taken over, the call executes again, its idempotency key (handed to the system of
record) keeping the downstream call single. The heartbeat's renewal claims a lost key
again for its run (Redis restarted empty, the key evicted), never one another run holds.

Redis unreachable, the ledger's row alone decides (with the holder run's liveness, which
the decorator checks): an action never fails because the claims are away.
"""

from __future__ import annotations

import logging
from typing import Any

from tokenwire.actions.ledger import ActionEntry, ActionStatus, Ledger
from tokenwire.runs.idempotency import SharedClaims

__all__ = ["ClaimedLedger"]

log = logging.getLogger("tokenwire.cluster")

#: Action keys are not scoped (``RedisKeys.action`` ignores the scope).
_SCOPE = ""


class ClaimedLedger:
    """``inner`` with the calls in flight on this replica claimed in ``claims``."""

    def __init__(self, inner: Ledger, claims: SharedClaims) -> None:
        self.inner = inner
        self._claims = claims
        #: Keys claimed here, and by which run: what the heartbeat renews.
        self._held: dict[str, str] = {}

    @property
    def held(self) -> list[str]:
        return list(self._held)

    async def renew(self) -> None:
        """Hold this replica's claims for another TTL (the heartbeat calls it)."""
        await self._claims.renew(_SCOPE, dict(self._held))

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        try:
            holder = await self._claims.claim(_SCOPE, entry.key, entry.run_id)
        except Exception as exc:
            log.warning("action claims unreachable (%s): the ledger alone decides", exc)
            return await self.inner.begin(entry)
        if holder is not None and holder != entry.run_id:
            return await self._in_flight_elsewhere(entry, holder)
        self._held[entry.key] = entry.run_id
        try:
            # A row running elsewhere yet unclaimed comes back as it is: its replica died
            # mid-call — or it lives and its claim lapsed (its loop blocked past the TTL,
            # a missed beat, Redis restarted empty). Only the holder run's liveness tells
            # them apart: the decorator asks it, and takes the row over (``retry`` with
            # ``holder=``) only from a run that is gone.
            existing = await self.inner.begin(entry)
        except BaseException:  # the database failed: hold no claim the heartbeat renews
            await self._let_go(entry.key, entry.run_id)
            raise
        if existing is not None:
            await self._let_go(entry.key, entry.run_id)
        return existing

    async def _in_flight_elsewhere(self, entry: ActionEntry, holder: str) -> ActionEntry:
        """What a duplicate waits on: the row, or — claimed but not recorded yet — a
        ``running`` entry naming the run that holds the claim."""
        row = await self.inner.get(entry.key)
        if row is not None:
            return row
        return ActionEntry(entry.key, entry.action, entry.args, holder, entry.thread_id)

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        try:
            current = await self._claims.take_over(
                _SCOPE, entry.key, holder.run_id if holder else None, entry.run_id
            )
        except Exception as exc:
            log.warning("action claims unreachable (%s): the ledger alone decides", exc)
            return await self.inner.retry(entry, holder)
        if current is not None and current != entry.run_id:
            return False  # another call claimed it first
        self._held[entry.key] = entry.run_id
        try:
            taken = await self._retry_claimed(entry, holder)
        except BaseException:
            await self._let_go(entry.key, entry.run_id)
            raise
        if not taken:
            await self._let_go(entry.key, entry.run_id)
        return taken

    async def _retry_claimed(self, entry: ActionEntry, holder: ActionEntry | None) -> bool:
        if await self.inner.retry(entry, holder):
            return True
        # The holder had claimed it without a row yet (and is gone): begin afresh.
        return await self.inner.get(entry.key) is None and await self.inner.begin(entry) is None

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        holder = run_id or self._held.get(key)
        try:
            await self.inner.finish(
                key, status, result, error, run_id, sealed=sealed, commit_args=commit_args
            )
        finally:
            # No longer in flight (an intended call is the run's to commit at its end) —
            # also when the write failed: a claim kept would be renewed for ever, and the
            # row (``running``, its run's liveness) decides a duplicate without it.
            if holder is not None:
                await self._let_go(key, holder)

    async def release(self, key: str, run_id: str) -> None:
        await self.inner.release(key, run_id)
        await self._let_go(key, run_id)

    async def get(self, key: str) -> ActionEntry | None:
        return await self.inner.get(key)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        return await self.inner.entries(
            thread_id=thread_id, run_id=run_id, status=status, limit=limit
        )

    async def expire(self, before: float) -> int:
        return await self.inner.expire(before)

    async def setup(self) -> None:
        await self.inner.setup()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _let_go(self, key: str, run_id: str) -> None:
        if self._held.get(key) == run_id:
            del self._held[key]
        try:
            await self._claims.release(_SCOPE, key, run_id)
        except Exception as exc:  # it expires with its TTL anyway
            log.warning("action claim %s not released: %s", key, exc)
