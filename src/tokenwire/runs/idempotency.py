"""Idempotency keys: one ``Idempotency-Key``, one run — in one process and across replicas.

A key belongs to its caller (scoped by key alias) and to the request it came with (a
fingerprint of input and config: the same key with another body is a conflict). In one
process the run registry remembers keys; with replicas, :class:`SharedClaims` claims them in
Redis by compare-and-set. Whether a start replays, claims or waits is the admission gate's
to decide (:mod:`tokenwire.gateway.admission`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from tokenwire import plain_json
from tokenwire.errors import IdempotencyConflict

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tokenwire.broker.redis import RedisKeys
    from tokenwire.runs.run import Run

__all__ = ["SharedClaims", "check_fingerprint", "fingerprint", "normalized", "scoped"]

# Compare-and-set: KEYS[1] becomes ARGV[2] (deleted when empty) for ARGV[3] ms if it is
# absent or holds ARGV[1]. Returns nil when done, else what it holds.
_SWAP = """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  return current
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return nil
"""


def normalized(idempotency_key: str | None) -> str | None:
    """A blank key is no key (an empty ``Idempotency-Key`` header)."""
    return (idempotency_key or "").strip() or None


def scoped(idempotency_key: str, alias: str) -> str:
    """Keys are their caller's own (``alias``): another client's identical key is another
    run (the alias's length keeps ``a:b`` + ``c`` apart from ``a`` + ``b:c``)."""
    return f"{len(alias)}:{alias}:{idempotency_key}"


def fingerprint(input: Any, config: dict[str, Any] | None) -> str:
    body = plain_json.dumps([input, config], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def check_fingerprint(existing: Run, expected: str | None) -> None:
    if existing.fingerprint != expected:
        raise IdempotencyConflict("Idempotency-Key was already used with a different request body")


class SharedClaims:
    """Keys claimed in Redis, each naming the run that holds it: idempotency keys (scoped
    by route), and — with ``key_of=RedisKeys.thread`` — the threads runs are live on
    (``tokenwire.threads.locks.Claims``)."""

    def __init__(
        self,
        client: Redis,
        keys: RedisKeys,
        hold_ms: int,
        key_of: Callable[[str, str], str] | None = None,
    ) -> None:
        self._client = client
        self._key_of = key_of or keys.idempotency
        #: How long a claim holds (a live run's whole life; the run's end re-arms it).
        self._hold_ms = hold_ms
        self._swap = client.register_script(_SWAP)

    async def claim(self, route: str, key: str, run_id: str) -> str | None:
        """Take ``key`` of ``route`` for ``run_id``: None if it was free, else the id of the
        run that holds it."""
        return await self.take_over(route, key, None, run_id)

    async def take_over(self, route: str, key: str, holder: str | None, run_id: str) -> str | None:
        """Point ``key`` at ``run_id`` if it is free or still names ``holder``: None when
        done, else whom it names now."""
        keys = [self._key_of(route, key)]
        current = await self._swap(keys=keys, args=[holder or "", run_id, self._hold_ms])
        return None if current is None else bytes(current).decode()

    async def renew(self, route: str, held: Mapping[str, str]) -> None:
        """Hold each key of ``held`` (key → the live run claiming it) for another
        ``hold_ms``: a claim must not lapse under a run that outlives it (a thread's run of
        several hours). A claim Redis lost (restarted empty, evicted, or lapsed while this
        replica's loop was blocked) is claimed again for its run; one another run holds
        now is left alone — renewing never steals."""
        if not held:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for key, run_id in held.items():
                keys = [self._key_of(route, key)]
                await self._swap(keys=keys, args=[run_id, run_id, self._hold_ms], client=pipe)
            await pipe.execute()

    async def release(self, route: str, key: str, run_id: str) -> None:
        """Free ``key`` if ``run_id`` still holds it (its run was refused before it started)."""
        await self._swap(keys=[self._key_of(route, key)], args=[run_id, "", 0])
