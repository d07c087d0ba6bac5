"""Whether a caller's key may start one more run: the per-key limits on run starts.

Every protocol starts runs through ``Gateway.astart_run``, which asks this before anything
runs — so a WebSocket ``start`` or each input of a LangServe batch counts like an HTTP
start, and the limits cannot be sidestepped by switching protocol. Refusals are
:class:`~tokenwire.security.limits.RateLimited` (429 with ``Retry-After`` on every
protocol).

Concurrency is counted as live runs plus starts admitted but not yet registered: the
check and the reservation happen without an await between them, so two simultaneous
starts of a key with one slot left cannot both pass. With Redis the live count is every
replica's; two replicas admitting the same key's last slot in the same instant can still
both pass (one request per replica at most).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.security.limits import RateLimited, RateLimiter
from tokenwire.security.quotas import KeyQuotas

__all__ = ["RunAdmission"]

log = logging.getLogger("tokenwire.security")

Release = Callable[[], None]


def _nothing() -> None:
    return None


class RunAdmission:
    def __init__(
        self,
        credentials: Credentials,
        live_runs_of: Callable[[str], Awaitable[int]],
        limiter: RateLimiter,
        quotas: KeyQuotas,
    ) -> None:
        self._credentials = credentials
        self._live_runs_of = live_runs_of
        self._limiter = limiter
        self._quotas = quotas
        #: Starts admitted whose run is not registered yet, per key alias.
        self._starting: Counter[str] = Counter()

    async def admit(self, owner: str) -> Release:
        """Check ``owner``'s run-start limits; raise ``RateLimited`` past one. The returned
        release must be called once the run is registered (or its start failed): until
        then it holds one of the key's concurrent-stream slots."""
        key = self._credentials.key(owner) if owner else None
        if key is None:  # anonymous callers and JWT subjects have no per-key limits
            return _nothing
        release = _nothing
        try:
            if key.concurrent_streams is not None:
                release = await self._reserve(key, key.concurrent_streams)
            await self._limiter.check_tokens(key)
            await self._quotas.check(key)
        except RateLimited:
            release()
            raise
        except Exception as exc:
            # The shared counters (Redis) are unreachable: serve rather than refuse every
            # start; the outage itself is reported by /readyz and this log.
            log.warning("run-start limits not checked: their store failed: %r", exc)
        except BaseException:  # cancelled (the client left): the slot must not leak
            release()
            raise
        return release

    async def _reserve(self, key: ApiKey, limit: int) -> Release:
        alias = key.alias
        live = await self._live_runs_of(alias)
        if live + self._starting[alias] >= limit:  # no await since the count: atomic here
            raise RateLimited(f"more than {limit} concurrent streams", 1)
        self._starting[alias] += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._starting[alias] -= 1
                if self._starting[alias] <= 0:
                    del self._starting[alias]

        return release
