"""Renewing claims in Redis (the heartbeat's): a claim Redis lost is claimed again for the
run that holds it; a claim another run holds now is never taken."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tokenwire.broker.redis import RedisKeys
from tokenwire.runs.idempotency import SharedClaims

HOLD_MS = 60_000


@pytest.fixture
async def client(redis_url: str, prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.parametrize("kind", ["action", "thread", "idempotency"])
async def test_renewal_reclaims_a_lost_key_and_never_steals_a_taken_one(
    client: Redis, prefix: str, kind: str
) -> None:
    keys = RedisKeys(prefix)
    key_of = getattr(keys, kind)
    claims = SharedClaims(client, keys, HOLD_MS, key_of=key_of)
    assert await claims.claim("", "lost", "r1") is None
    assert await claims.claim("", "taken", "r1") is None
    assert await claims.claim("", "kept", "r1") is None
    await client.delete(key_of("", "lost"))  # Redis restarted empty, or evicted it
    await client.set(key_of("", "taken"), b"r2", px=5_000)  # r1's lapsed; r2 claimed it
    await client.pexpire(key_of("", "kept"), 1_000)

    await claims.renew("", {"lost": "r1", "taken": "r1", "kept": "r1"})

    assert await client.get(key_of("", "lost")) == b"r1"
    assert await client.pttl(key_of("", "lost")) > HOLD_MS - 5_000
    assert await client.get(key_of("", "kept")) == b"r1"
    assert await client.pttl(key_of("", "kept")) > HOLD_MS - 5_000
    assert await client.get(key_of("", "taken")) == b"r2"
    assert 0 < await client.pttl(key_of("", "taken")) <= 5_000  # not extended either
    assert await claims.claim("", "lost", "r3") == "r1"  # held again: a duplicate waits


async def test_renewing_nothing_touches_nothing(client: Redis, prefix: str) -> None:
    claims = SharedClaims(client, RedisKeys(prefix), HOLD_MS)
    await claims.renew("", {})
    assert [key async for key in client.scan_iter(f"{prefix}:*")] == []
