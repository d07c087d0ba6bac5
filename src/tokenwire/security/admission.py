"""Whether a caller's key may start one more run: the per-key limits on run starts.

Every protocol starts runs through ``Gateway.astart_run``, which asks this before anything
runs — so a WebSocket ``start`` or each input of a LangServe batch counts like an HTTP
start, and the limits cannot be sidestepped by switching protocol. Refusals are
:class:`~tokenwire.errors.RateLimited` (429 with ``Retry-After`` on every
protocol).

Concurrency is counted in :mod:`tokenwire.security.slots`: in this process, or with Redis
as leases every replica takes atomically, so simultaneous starts on any replicas never
pass the key's limit. An admitted start holds its slot until its run ends (or until it
turns out to start nothing).
"""

from __future__ import annotations

import logging

from tokenwire.errors import RateLimited
from tokenwire.security.credentials import Credentials
from tokenwire.security.limits import RateLimiter
from tokenwire.security.quotas import KeyQuotas
from tokenwire.security.slots import UNLIMITED, Slot, StreamSlots

__all__ = ["RunAdmission"]

log = logging.getLogger("tokenwire.security")


class RunAdmission:
    def __init__(
        self,
        credentials: Credentials,
        slots: StreamSlots,
        limiter: RateLimiter,
        quotas: KeyQuotas,
    ) -> None:
        self._credentials = credentials
        self._slots = slots
        self._limiter = limiter
        self._quotas = quotas

    async def admit(self, owner: str) -> Slot:
        """Check ``owner``'s run-start limits; raise ``RateLimited`` past one. The returned
        slot is one of the key's concurrent streams: ``hold(run)`` it once the run started,
        ``release()`` it if the start failed or started nothing."""
        key = self._credentials.key(owner) if owner else None
        if key is None:  # anonymous callers and JWT subjects have no per-key limits
            return UNLIMITED
        slot = UNLIMITED
        try:
            if key.concurrent_streams is not None:
                slot = await self._slots.take(key.alias, key.concurrent_streams)
            await self._limiter.check_tokens(key)
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
