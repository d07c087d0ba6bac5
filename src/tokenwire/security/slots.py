"""A key's concurrent-stream slots: taken when a run starts, held until it ends.

:class:`LocalSlots` counts in this process — its live runs plus the starts admitted but not
registered yet, checked and reserved with no await between, so simultaneous starts cannot
overshoot. Exact and free: one process sees every run.

:class:`SharedSlots` counts across replicas sharing Redis, where no replica sees every run.
Each key's slots are **leases** in one sorted set (lease id → expiry, on Redis's clock, so
replicas' clocks do not matter). A start takes a lease with one Lua script — drop expired
leases, count, add its own only if there is room — so of any number of simultaneous starts
on any number of replicas at most the limit pass, in one round trip per start. The replica
whose run holds a lease extends it every third of its lifetime and removes it when the run
ends; a replica that dies stops extending its leases, so its slots free themselves when they
expire (``replica_ttl_seconds``: as it stops counting as alive), with nobody cleaning up.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from tokenwire.errors import RateLimited

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from tokenwire.broker.redis import RedisBroker
    from tokenwire.runs.registry import RunRegistry
    from tokenwire.runs.run import Run

__all__ = ["UNLIMITED", "LocalSlots", "SharedSlots", "Slot", "StreamSlots"]

log = logging.getLogger("tokenwire.security")


class Slot(Protocol):
    """What an admitted start holds: ``hold(run)`` once its run started (the slot is then
    the run's until it ends), ``release()`` if it started nothing. Either, once."""

    def hold(self, run: Run) -> None: ...

    def release(self) -> None: ...


class StreamSlots(Protocol):
    async def take(self, alias: str, limit: int) -> Slot:
        """One of ``alias``'s ``limit`` slots; raises ``RateLimited`` when all are taken."""


class _Unlimited:
    """The slot of a start no concurrency limit applies to."""

    def hold(self, run: Run) -> None:
        return None

    def release(self) -> None:
        return None


UNLIMITED: Slot = _Unlimited()


def _refused(limit: int) -> RateLimited:
    # A slot frees when one of the key's runs ends, which nothing here can foresee.
    return RateLimited(f"more than {limit} concurrent streams", 1)


class LocalSlots:
    """Slots counted in this process (no Redis): from its registry's live runs."""

    def __init__(self, registry: RunRegistry) -> None:
        self._registry = registry
        #: Starts admitted whose run is not registered yet, per key alias.
        self._starting: Counter[str] = Counter()

    async def take(self, alias: str, limit: int) -> Slot:
        live = sum(1 for run in self._registry.live() if run.owner == alias)
        if live + self._starting[alias] >= limit:
            raise _refused(limit)
        self._starting[alias] += 1
        return _Starting(self._starting, alias)


class _Starting:
    """A start counted until its run is registered: from then on the registry counts it."""

    __slots__ = ("_alias", "_counter")

    def __init__(self, counter: Counter[str], alias: str) -> None:
        self._counter: Counter[str] | None = counter
        self._alias = alias

    def hold(self, run: Run) -> None:
        self.release()

    def release(self) -> None:
        counter, self._counter = self._counter, None
        if counter is not None:
            counter[self._alias] -= 1
            if counter[self._alias] <= 0:
                del counter[self._alias]


# KEYS[1]: one key's leases (lease id → expiry in ms). ARGV: lease id, limit, lease ms,
# then leases this replica released whose removal may still be on its way. Returns 1 if
# the lease was added, 0 if the key's slots are all taken.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 4, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
return 1
"""

# KEYS[1]: one key's leases. ARGV: lease ms, then the lease ids this replica holds there.
# Extends them — adding back any that Redis lost, their runs being live — and drops expired
# leases (a dead replica's).
_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
return #ARGV - 1
"""


class SharedSlots:
    """Leases in Redis, over the broker's connections. Extending and removing leases go
    through the broker's ordered write queue (its urgent lane), so a removal can never be
    overtaken by an extension that would add the lease back."""

    def __init__(self, broker: RedisBroker, *, lease_seconds: float) -> None:
        self._broker = broker
        self._prefix = broker.keys.prefix
        self._lease_ms = max(int(lease_seconds * 1000), 1)
        self._take = broker.client.register_script(_TAKE)
        #: This replica's leases in use, per key alias (a dict: the order they were taken).
        self._held: dict[str, dict[str, None]] = {}
        #: Leases released here since this replica's last take for their alias: that take
        #: removes them too, so a run that ended here never counts here, even while its
        #: queued removal is still on its way (at most the key's runs since that take).
        self._released: dict[str, set[str]] = {}
        self._extender: asyncio.Task[None] | None = None
        #: Extensions queued; only the latest one writes (Redis may be away for a while).
        self._extensions = 0

    def _key(self, alias: str) -> str:
        return f"{self._prefix}:slots:{alias}"

    async def take(self, alias: str, limit: int) -> Slot:
        lease = _Lease(self, alias, os.urandom(12).hex())
        released = list(self._released.get(alias, ()))
        args: list[str | int] = [lease.id, limit, self._lease_ms, *released]
        try:
            taken = await self._take(keys=[self._key(alias)], args=args)
        except Exception as exc:
            # Serve rather than refuse every start while Redis is away; the lease is still
            # held, so the first extension after Redis returns counts this run.
            log.warning("concurrent streams not checked: Redis failed: %r", exc)
            return lease
        except BaseException:  # cancelled: the script may have added the lease all the same
            lease.release()
            raise
        self._forget_released(alias, released)
        if not taken:
            lease.released = True
            raise _refused(limit)
        return lease

    def _forget_released(self, alias: str, removed: list[str]) -> None:
        released = self._released.get(alias)
        if released is not None:
            released.difference_update(removed)
            if not released:
                del self._released[alias]

    def _hold(self, lease: _Lease) -> None:
        self._held.setdefault(lease.alias, {})[lease.id] = None
        if self._extender is None:
            self._extender = asyncio.get_running_loop().create_task(
                self._extend_forever(), name="tokenwire-stream-slots"
            )

    def _release(self, lease: _Lease) -> None:
        leases = self._held.get(lease.alias)
        if leases is not None:
            leases.pop(lease.id, None)
            if not leases:
                del self._held[lease.alias]
        self._released.setdefault(lease.alias, set()).add(lease.id)
        key, member = self._key(lease.alias), lease.id
        self._broker.later(lambda pipe: pipe.zrem(key, member), urgent=True)
        if not self._held and self._extender is not None:
            self._extender.cancel()  # nothing to extend until the next run holds a slot
            self._extender = None

    async def _extend_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            self._extensions += 1
            extend = functools.partial(self._extend, number=self._extensions)
            self._broker.later(extend, urgent=True)

    def _extend(self, pipe: Pipeline, number: int) -> None:
        if number != self._extensions:
            return  # a later extension is queued (the write is retried while Redis is away)
        for alias, leases in self._held.items():
            pipe.eval(_EXTEND, 1, self._key(alias), self._lease_ms, *leases)


class _Lease:
    __slots__ = ("_slots", "alias", "id", "released")

    def __init__(self, slots: SharedSlots, alias: str, id: str) -> None:
        self._slots = slots
        self.alias = alias
        self.id = id
        self.released = False

    def hold(self, run: Run) -> None:
        if run.task is None or self.released:
            self.release()
            return
        self._slots._hold(self)
        run.task.add_done_callback(self._ended)

    def _ended(self, _: Any) -> None:
        self.release()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._slots._release(self)
