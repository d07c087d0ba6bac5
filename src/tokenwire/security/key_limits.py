"""A gateway's per-key limits: whether a caller's key may start one more run, what the run
may spend, and what it is charged once it ended.

Every protocol starts runs through ``Gateway.start_run``, whose admission gate asks
:meth:`KeyLimits.admit` before anything runs — so a WebSocket ``start`` or each input of a
LangServe batch counts like an HTTP start, and the limits cannot be sidestepped by switching
protocol. Refusals are :class:`~tokenwire.errors.RateLimited` (429 with ``Retry-After`` on
every protocol).

Concurrency is counted in :mod:`tokenwire.security.slots`: in this process, or with Redis
as leases every replica takes atomically, so simultaneous starts on any replicas never
pass the key's limit. An admitted start holds its slot until its run ends (or until it
turns out to start nothing).
"""

from __future__ import annotations

import asyncio
import logging

from tokenwire.broker.redis import RedisBroker
from tokenwire.errors import RateLimited
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run
from tokenwire.security.credentials import Credentials
from tokenwire.security.limits import RateLimiter
from tokenwire.security.quotas import KeyQuotas
from tokenwire.security.slots import UNLIMITED, LocalSlots, SharedSlots, Slot, StreamSlots

__all__ = ["KeyLimits"]

log = logging.getLogger("tokenwire.security")


class KeyLimits:
    """The limits of ``credentials``' keys: concurrent streams (``slots``), requests and
    tokens per minute (``limiter``), budgets per period (``quotas``)."""

    def __init__(
        self,
        credentials: Credentials,
        slots: StreamSlots,
        limiter: RateLimiter,
        quotas: KeyQuotas,
    ) -> None:
        self.credentials = credentials
        #: Also the auth middleware's, for the requests-per-minute limit.
        self.limiter = limiter
        self._slots = slots
        self._quotas = quotas
        self._charges: set[asyncio.Task[None]] = set()

    @classmethod
    def counted(
        cls,
        credentials: Credentials,
        registry: RunRegistry,
        shared: RedisBroker | None = None,
        *,
        prefix: str = "tokenwire",
        lease_seconds: float = 10.0,
    ) -> KeyLimits:
        """Limits counted in this process (from ``registry``'s runs), or with ``shared``
        in Redis, over that broker's connections, for every replica."""
        client = shared.client if shared is not None else None
        slots: StreamSlots = LocalSlots(registry)
        if shared is not None:  # a dead replica's slots free as it stops counting alive
            slots = SharedSlots(shared, lease_seconds=lease_seconds)
        limiter = RateLimiter(client, prefix=prefix)
        return cls(credentials, slots, limiter, KeyQuotas(redis=client, prefix=prefix))

    async def admit(self, owner: str) -> Slot:
        """Check ``owner``'s run-start limits; raise ``RateLimited`` past one. The returned
        slot is one of the key's concurrent streams: ``hold(run)`` it once the run started,
        ``release()`` it if the start failed or started nothing."""
        key = self.credentials.key(owner) if owner else None
        if key is None:  # anonymous callers and JWT subjects have no per-key limits
            return UNLIMITED
        slot = UNLIMITED
        try:
            if key.concurrent_streams is not None:
                slot = await self._slots.take(key.alias, key.concurrent_streams)
            await self.limiter.check_tokens(key)
            await self._quotas.check(key)
        except RateLimited:
            slot.release()
            raise
        except Exception as exc:
            # The shared counters (Redis) are unreachable: serve rather than refuse every
            # start; the outage itself is reported by /readyz and this log.
            log.warning("run-start limits not checked: their store failed: %r", exc)
        except BaseException:  # cancelled (the client left): the slot must not leak
            slot.release()
            raise
        return slot

    def run_budget(self, alias: str) -> RunBudget | None:
        """What a new run of ``alias``'s key may still spend (None: no quota applies)."""
        key = self.credentials.key(alias)
        return None if key is None else self._quotas.run_budget(key)

    def charge(self, run: Run) -> None:
        """Charge an ended run's tokens and cost to its key's rate limit and quotas."""
        key = self.credentials.key(run.owner) if run.owner else None
        if key is None:
            return
        usage = run.summary.get("usage") or {}
        tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        charging = asyncio.get_running_loop().create_task(self.limiter.consume_tokens(key, tokens))
        self._charges.add(charging)
        charging.add_done_callback(self._charged)
        self._quotas.charge(key, tokens, usage.get("cost_usd"))

    def _charged(self, task: asyncio.Task[None]) -> None:
        self._charges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("charging tokens to a rate limit failed: %r", task.exception())
