"""``@action`` calls in flight claimed in Redis, across replicas sharing one ledger: a
duplicate on another replica waits for the call instead of executing it; once the
claiming replica stops beating, its claim expires and the call is taken over."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from tests.actions.crm import Crm
from tests.cluster.conftest import Make
from tokenwire.actions import ActionScope, action, action_scope
from tokenwire.cluster.action_claims import ClaimedLedger
from tokenwire.gateway import Gateway

Alive = Callable[[str], Awaitable[bool]]


async def _call_on(
    gateway: Gateway, run_id: str, fn: Callable[[str], Awaitable[Any]], alive: Alive
) -> Any:
    """``fn("refund")`` in a run ``run_id`` of the thread ``t`` on ``gateway``."""
    loop = asyncio.get_running_loop()
    scope = ActionScope("thread:t", run_id, gateway.actions, loop, "t", alive=alive)
    with action_scope(scope):
        return await fn("refund")


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_duplicate_on_another_replica_waits_for_the_call_in_flight(
    gateways: Make, crm: tuple[Crm, str], redis_url: str, prefix: str
) -> None:
    records, url = crm
    a, b = await gateways(2, audited=True)
    assert isinstance(a.actions, ClaimedLedger) and isinstance(b.actions, ClaimedLedger)
    release = asyncio.Event()

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        await release.wait()  # still in flight when the duplicate arrives
        return created

    found_in_flight: list[str] = []

    async def live(run_id: str) -> bool:
        found_in_flight.append(run_id)  # B found the call in flight, held by this run
        return True

    first = asyncio.create_task(_call_on(a, "run-a", create_ticket, live))
    await _until(lambda: bool(records.tickets))
    (key,) = a.actions.held
    claim = await a.cluster.client.get(f"{prefix}:action:{key}")  # type: ignore[union-attr]
    assert claim == b"run-a"
    second = asyncio.create_task(_call_on(b, "run-b", create_ticket, live))
    await _until(lambda: bool(found_in_flight))
    assert found_in_flight[0] == "run-a" and not second.done()
    release.set()
    assert list(await asyncio.gather(first, second)) == [{"id": 1}, {"id": 1}]
    assert len(records.tickets) == 1  # B replayed what A recorded
    assert a.actions.held == [] and await a.cluster.client.get(f"{prefix}:action:{key}") is None  # type: ignore[union-attr]


async def test_a_lapsed_claim_of_a_live_run_is_waited_for_not_taken_over(
    gateways: Make, crm: tuple[Crm, str], prefix: str
) -> None:
    """A's loop is blocked past its TTL (here: its heartbeat stopped) while its call is in
    flight: the claim lapses, yet A's run is alive — B waits for it and replays."""
    records, url = crm
    a, b = await gateways(2, audited=True, replica_ttl_seconds=0.3)
    release = asyncio.Event()

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        await release.wait()
        return created

    asked: list[str] = []

    async def live(run_id: str) -> bool:
        asked.append(run_id)
        return True

    assert a.cluster is not None
    first = asyncio.create_task(_call_on(a, "run-a", create_ticket, live))
    await _until(lambda: bool(records.tickets))
    for task in a.cluster._tasks:  # A stops beating: its claim lapses mid-call
        task.cancel()
    (key,) = a.actions.held  # type: ignore[attr-defined]
    claim = f"{prefix}:action:{key}"
    await _until_async(lambda: _gone(a, claim))
    second = asyncio.create_task(_call_on(b, "run-b", create_ticket, live))
    await _until(lambda: len(asked) >= 3 or len(records.tickets) > 1)
    assert len(records.tickets) == 1 and set(asked) == {"run-a"} and not second.done()
    release.set()
    assert list(await asyncio.gather(first, second)) == [{"id": 1}, {"id": 1}]
    assert len(records.tickets) == 1


async def test_a_claim_of_a_run_that_is_gone_is_taken_over(
    gateways: Make, crm: tuple[Crm, str]
) -> None:
    """A stops beating mid-call and its run is gone (its replica's runs were swept): B
    takes the call over and executes it."""
    records, url = crm
    a, b = await gateways(2, audited=True, replica_ttl_seconds=0.3)
    stuck = asyncio.Event()

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        if not stuck.is_set():  # A's call hangs before reaching the CRM, then A dies
            stuck.set()
            await asyncio.Event().wait()
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        return created

    async def live(run_id: str) -> bool:
        return run_id != "run-a"

    hung = asyncio.create_task(_call_on(a, "run-a", create_ticket, live))
    await stuck.wait()
    assert a.cluster is not None
    for task in a.cluster._tasks:  # A freezes: its heartbeat stops renewing its claims
        task.cancel()
    assert await _call_on(b, "run-b", create_ticket, live) == {"id": 1}
    assert len(records.tickets) == 1
    (entry,) = await b.actions.entries()
    assert (entry.status, entry.run_id) == ("succeeded", "run-b")
    hung.cancel()  # A's call, cancelled: it lets go of nothing it still holds
    await asyncio.gather(hung, return_exceptions=True)
    assert (await b.actions.get(entry.key)) == entry


async def _gone(gateway: Gateway, key: str) -> bool:
    assert gateway.cluster is not None
    return bool(await gateway.cluster.client.exists(key) == 0)


async def _until_async(condition: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(500):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_with_redis_away_the_ledger_alone_decides() -> None:
    """Claims unreachable: an action still runs, and a running call is not mistaken for
    one whose claim lapsed — the duplicate gets the running row to wait on."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from tokenwire.actions import ActionEntry, MemoryLedger
    from tokenwire.broker.redis import RedisKeys
    from tokenwire.runs.idempotency import SharedClaims
    from tokenwire.testing import free_port

    # Nothing listens there; no retries, so each refused call fails at once.
    client = Redis(host="127.0.0.1", port=free_port(), retry=Retry(NoBackoff(), 0))
    keys = RedisKeys("away")
    ledger = ClaimedLedger(MemoryLedger(), SharedClaims(client, keys, 1000, key_of=keys.action))
    try:
        assert await ledger.begin(ActionEntry("k", "refund", {}, "r1")) is None
        running = await ledger.begin(ActionEntry("k", "refund", {}, "r2"))
        assert running is not None and (running.status, running.run_id) == ("running", "r1")
        await ledger.finish("k", "succeeded", "done", run_id="r1")
        done: Any = await ledger.get("k")
        assert (done.status, done.result, ledger.held) == ("succeeded", "done", [])
    finally:
        await client.aclose()


async def test_the_heartbeat_claims_a_call_in_flight_again_when_redis_lost_it(
    gateways: Make, crm: tuple[Crm, str], prefix: str
) -> None:
    """Redis restarted empty (here: the claim deleted) mid-call: the next beat claims the
    key again for the run in flight, so a duplicate waits on it instead of racing it."""
    records, url = crm
    (a,) = await gateways(1, audited=True)
    assert a.cluster is not None
    release = asyncio.Event()

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        await release.wait()
        return created

    async def live(run_id: str) -> bool:
        return True

    first = asyncio.create_task(_call_on(a, "run-a", create_ticket, live))
    await _until(lambda: bool(records.tickets))
    (key,) = a.actions.held  # type: ignore[attr-defined]
    claim = f"{prefix}:action:{key}"
    await a.cluster.client.delete(claim)
    await a.cluster._beat()
    assert await a.cluster.client.get(claim) == b"run-a"
    release.set()
    assert await first == {"id": 1}
    assert await a.cluster.client.get(claim) is None  # let go once recorded
