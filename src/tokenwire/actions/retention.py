"""How long the action ledger keeps what a call did: ``actions_retention_seconds``.

A finished entry (succeeded, failed, discarded) older than the retention is deleted by a
periodic sweep on every replica (the delete is one statement: replicas sweeping at once
delete each row once). Past it, the same work redone executes again — so the retention
must outlast how long a thread may be resumed or a request retried. 0 keeps entries
forever. A call still running or intended is never deleted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tokenwire.actions.ledger import Ledger

__all__ = ["LedgerRetention"]

log = logging.getLogger("tokenwire.actions")


class LedgerRetention:
    """Deletes ``ledger``'s entries finished more than ``seconds`` ago by ``now`` (the
    wall clock the ledger stamps entries with; tests move it)."""

    def __init__(
        self, ledger: Ledger, seconds: float, *, now: Callable[[], float] = time.time
    ) -> None:
        self.ledger = ledger
        self.seconds = seconds
        self._now = now

    async def sweep(self) -> int:
        """Apply the retention now; returns how many entries were deleted."""
        if self.seconds <= 0:
            return 0
        deleted = await self.ledger.expire(self._now() - self.seconds)
        if deleted:
            log.info("action ledger retention: deleted %d entries", deleted)
        return deleted

    async def sweep_forever(self, interval: float) -> None:
        """:meth:`sweep` every ``interval`` seconds until cancelled (a failure is logged:
        the database may be back at the next sweep)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception as exc:
                log.warning("action ledger retention failed: %s", exc)
