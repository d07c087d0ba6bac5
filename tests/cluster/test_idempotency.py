"""One Idempotency-Key, one run — across replicas, under races (in process, real Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.cluster.conftest import Make
from tests.redis_client import sync_redis
from tokenwire.broker.redis import RedisBroker
from tokenwire.errors import InvalidRequest

BODY = {"n": 3, "delay": 0.01}


async def test_two_replicas_racing_on_one_key_start_one_run(gateways: Make) -> None:
    a, b = await gateways(2)
    (ra, ca), (rb, cb) = await asyncio.gather(
        a.start_run("count", BODY, idempotency_key="race"),
        b.start_run("count", BODY, idempotency_key="race"),
    )
    assert ra.id == rb.id and sorted([ca, cb]) == [False, True]


async def test_a_stale_claim_is_taken_over_by_one_replica_only(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    """A claim naming a run that never started (its replica died): of two retries racing to
    replace it, exactly one starts a run and the other replays it."""
    a, b = await gateways(2)
    stale = f"{prefix}:idem:count:9:anonymous:k1"
    sync_redis(redis_url).set(stale, "f" * 32, px=60_000)
    (ra, ca), (rb, cb) = await asyncio.gather(
        a.start_run("count", BODY, idempotency_key="k1"),
        b.start_run("count", BODY, idempotency_key="k1"),
    )
    assert ra.id == rb.id and sorted([ca, cb]) == [False, True]


async def test_a_claim_whose_run_is_still_on_its_way_is_waited_for(gateways: Make) -> None:
    a, b = await gateways(2)
    assert isinstance(a.broker, RedisBroker)
    send = a.broker._send

    async def slow_send(batch: Any) -> None:  # a busy flusher on replica A
        await asyncio.sleep(0.3)
        await send(batch)

    a.broker._send = slow_send  # type: ignore[method-assign]
    ra, _ = await a.start_run("count", BODY, idempotency_key="k2")
    rb, created = await b.start_run("count", BODY, idempotency_key="k2")
    assert (rb.id, created) == (ra.id, False)


async def test_a_refused_request_frees_its_key(gateways: Make) -> None:
    a, b = await gateways(2)
    with pytest.raises(InvalidRequest):
        await a.start_run("count", BODY, config={"recursion_limit": "nope"}, idempotency_key="k3")
    (ra, _), (rb, _) = await asyncio.gather(
        a.start_run("count", BODY, idempotency_key="k3"),
        b.start_run("count", BODY, idempotency_key="k3"),
    )
    assert ra.id == rb.id


async def test_a_blank_key_is_no_key(gateways: Make) -> None:
    a, b = await gateways(2)
    ra, ca = await a.start_run("count", BODY, idempotency_key="")
    rb, cb = await b.start_run("count", BODY, idempotency_key="  ")
    assert ca and cb and ra.id != rb.id and ra.idempotency_key is None
