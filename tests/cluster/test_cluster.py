"""Cluster edge cases, in process: two gateways over the real Redis (see conftest)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.cluster.conftest import Make
from tests.redis_client import sync_redis
from tokenwire.broker.redis import encode_events
from tokenwire.cluster.remote import RemoteRun
from tokenwire.events import RunStatus
from tokenwire.gateway import Gateway


def _fake_run(redis_url: str, prefix: str, replica: str, events: list[tuple[int, str, Any]]) -> str:
    """A run record and log written straight into Redis, as a replica would have."""
    client = sync_redis(redis_url)
    run_id = f"{time.time_ns():032x}"[-32:]
    client.hset(
        f"{prefix}:run:{run_id}",
        mapping={
            "route": "count",
            "owner": "",
            "replica": replica,
            "status": "running",
            "trace_id": "0" * 32,
            "created_at": repr(time.time()),
            "on_disconnect": "continue",
            "metadata": "{}",
        },
    )
    for seq, type, data in events:
        client.xadd(f"{prefix}:log:{run_id}", {"e": encode_events([(type, data)])}, id=f"{seq}-0")
    return run_id


async def _remote(gateway: Gateway, run_id: str) -> RemoteRun:
    run = await gateway.find_run(run_id)
    assert isinstance(run, RemoteRun)
    return run


async def test_a_run_is_found_elsewhere_the_moment_it_started(gateways: Make) -> None:
    a, b = await gateways(2)
    run, _ = await a.start_run("count", {"n": 50}, on_disconnect="continue")
    assert (await _remote(b, run.id)).route == "count"


async def test_a_bad_control_message_does_not_deafen_a_replica(gateways: Make, prefix: str) -> None:
    a, b = await gateways(2)
    run, _ = await a.start_run("count", {"n": 1000}, on_disconnect="continue")
    assert b.cluster is not None
    for junk in (b"not json", b"[1, 2]", b'{"op": "cancel"}'):
        await b.cluster.client.publish(f"{prefix}:control", junk)
    remote = await _remote(b, run.id)
    assert remote.cancel("moderator")
    await remote.settle(5.0)
    assert run.status is RunStatus.CANCELLED
    assert remote.status is RunStatus.CANCELLED


async def test_a_cancel_waits_for_the_end_even_when_the_last_stream_leaves(
    gateways: Make,
) -> None:
    a, b = await gateways(2)
    run, _ = await a.start_run("count", {"n": 1000}, on_disconnect="continue")
    remote = await _remote(b, run.id)
    remote.attach()  # a streaming subscriber on B
    assert remote.cancel("moderator")
    settle = asyncio.create_task(remote.settle(5.0))
    await asyncio.sleep(0)
    remote.detach()  # ... leaves while the cancel waits
    await settle  # waits at most 5 s; a 1000-count run still going is not cancelled
    assert remote.status is RunStatus.CANCELLED


async def test_a_remote_snapshot_forgets_text_a_restart_withdrew(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    a, b = await gateways(2)
    assert a.cluster is not None
    events = [
        (1, "run.start", {}),
        (2, "token", {"text": "bad "}),
        (3, "run.restart", {}),
        (4, "token", {"text": "good"}),
    ]
    run_id = _fake_run(redis_url, prefix, a.cluster.replica_id, events)
    assert (await _remote(b, run_id)).snapshot()["output"] == "good"


async def _end_of(remote: RemoteRun) -> None:
    """Follow ``remote`` (as a streaming subscriber would) until its log ends."""
    remote.attach()
    waiter = asyncio.get_running_loop().create_future()
    remote.log.wait(waiter, end_only=True)
    await asyncio.wait_for(waiter, 10)
    remote.detach()


async def test_events_lost_on_the_way_to_redis_end_the_stream_retryably(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    """A gap that stays (past the replica TTL: no owner re-published the log) is lost."""
    a, b = await gateways(2, replica_ttl_seconds=0.3)
    assert a.cluster is not None
    events = [(1, "run.start", {}), (3, "token", {"text": "x"}), (4, "run.end", {})]
    run_id = _fake_run(redis_url, prefix, a.cluster.replica_id, events)
    remote = await _remote(b, run_id)
    assert not remote.done  # a gap may be a log still being re-published: not yet lost
    await _end_of(remote)
    assert remote.done and remote.log.closed
    got = remote.log.since(0)
    assert [(e.seq, e.type) for e in got] == [(1, "run.start"), (2, "error"), (3, "run.end")]
    assert got[1].data["code"] == "incomplete_stream" and got[1].data["retryable"]


async def test_a_gap_the_owner_fills_is_followed_through(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    """Redis restarted empty and the owner's newest events arrived before it re-published
    the log: a follower waits for the rewrite instead of ending the stream as lost."""
    a, b = await gateways(2)
    assert a.cluster is not None
    run_id = _fake_run(redis_url, prefix, a.cluster.replica_id, [(3, "token", {"text": "c"})])
    remote = await _remote(b, run_id)  # its first read met the gap: it waits (TTL 10 s)
    remote.attach()
    assert not remote.done and remote.log.last_seq == 0
    client = sync_redis(redis_url)
    key = f"{prefix}:log:{run_id}"
    client.delete(key)  # what the owner's re-publishing does, in one script
    whole = [("run.start", {}), ("token", {"text": "a"}), ("token", {"text": "c"})]
    client.xadd(key, {"e": encode_events(whole)}, id="3-0")
    client.xadd(key, {"e": encode_events([("run.end", {"status": "completed"})])}, id="4-0")
    remote.detach()
    await _end_of(remote)
    assert [(e.seq, e.type) for e in remote.log.since(0)] == [
        (1, "run.start"),
        (2, "token"),
        (3, "token"),
        (4, "run.end"),
    ]
    assert remote.status is RunStatus.COMPLETED


async def test_the_sweeper_leaves_live_replicas_alone(gateways: Make) -> None:
    a, b = await gateways(2)
    run, _ = await a.start_run("count", {"n": 1000}, on_disconnect="continue")
    assert a.cluster is not None and b.cluster is not None
    await a.broker.flushed()  # type: ignore[attr-defined]
    assert await b.cluster.sweep_orphans() == 0
    assert await a.cluster.sweep_orphans() == 0
    assert not run.done


async def test_a_followed_log_unpacks_batched_entries_in_order(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    """The owner writes the events one flush gathered as one entry (id = last seq)."""
    a, b = await gateways(2)
    assert a.cluster is not None
    run_id = _fake_run(redis_url, prefix, a.cluster.replica_id, [])
    client = sync_redis(redis_url)
    key = f"{prefix}:log:{run_id}"
    batch = [("run.start", {}), ("token", {"text": "a"}), ("token", {"text": "b"})]
    client.xadd(key, {"e": encode_events(batch)}, id="3-0")
    remote = await _remote(b, run_id)
    assert [(e.seq, e.type) for e in remote.log.since(0)] == [
        (1, "run.start"),
        (2, "token"),
        (3, "token"),
    ]
    end = {"status": "completed", "output": "abc"}
    client.xadd(key, {"e": encode_events([("token", {"text": "c"}), ("run.end", end)])}, id="5-0")
    remote.attach()
    waiter = asyncio.get_running_loop().create_future()
    remote.log.wait(waiter, end_only=True)
    await asyncio.wait_for(waiter, 5)
    remote.detach()
    assert [e.seq for e in remote.log.since(0)] == [1, 2, 3, 4, 5]
    assert remote.status is RunStatus.COMPLETED and remote.snapshot()["output"] == "abc"


async def test_a_long_redis_outage_never_leaves_a_run_counted_live(
    gateways: Make, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the queue bound only events are dropped, never a run's end (its key's live
    streams must not stay counted); the sweeper re-sends an end Redis missed anyway."""
    import tokenwire.broker.redis as broker_module

    monkeypatch.setattr(broker_module, "_MAX_QUEUED", 20)
    monkeypatch.setattr(broker_module, "_BATCH", 5)
    monkeypatch.setattr(broker_module, "_RETRY_SECONDS", 0.05)
    (gateway,) = await gateways(1)
    assert isinstance(gateway.broker, broker_module.RedisBroker) and gateway.cluster is not None
    send, down = gateway.broker._send, [True]

    async def flaky(batch: Any) -> None:
        if down[0]:
            raise ConnectionError("redis restarting")
        await send(batch)

    gateway.broker._send = flaky  # type: ignore[method-assign]
    short, _ = await gateway.start_run("count", {"n": 2, "delay": 0.005})
    long, _ = await gateway.start_run("count", {"n": 60, "delay": 0.005})
    assert short.task is not None and long.task is not None
    await asyncio.gather(short.task, long.task)
    down[0] = False
    assert await gateway.broker.flushed(5)
    assert await gateway.live_runs_of("anonymous") == 0
    # Even an end Redis never got is re-sent by the sweeper.
    client = sync_redis(redis_url)
    client.sadd(f"{prefix}:live", long.id)
    client.sadd(f"{prefix}:owner:anonymous", long.id)
    await gateway.cluster.sweep_orphans()
    assert await gateway.broker.flushed(5)
    assert await gateway.live_runs_of("anonymous") == 0
    assert not client.sismember(f"{prefix}:live", long.id)


async def test_a_quota_check_right_after_a_charge_sees_it(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    from tokenwire.errors import RateLimited
    from tokenwire.security.credentials import ApiKey, hash_key
    from tokenwire.security.quotas import KeyQuotas

    client = Redis.from_url(redis_url)
    try:
        quotas = KeyQuotas(redis=client, prefix=prefix)
        key = ApiKey("thrifty", hash_key("sk-x"), token_budget=100)
        quotas.charge(key, 100, None)  # a run just ended; its Redis write is on its way
        with pytest.raises(RateLimited):
            await quotas.check(key)
    finally:
        await client.aclose()


async def test_subscribers_of_a_replica_that_died_stop_counting(gateways: Make) -> None:
    """A replica dies with a client attached to another replica's run: once its heartbeat
    lapses, the owner forgets that subscriber, so ``on_disconnect=cancel`` still acts."""
    a, b = await gateways(2, replica_ttl_seconds=0.4, disconnect_grace_seconds=0.1)
    assert a.cluster is not None and b.cluster is not None
    run, _ = await a.start_run("count", {"n": 5000}, on_disconnect="cancel")
    remote = await _remote(b, run.id)
    remote.attach()  # a client streaming the run from B
    for _ in range(100):
        if run.subscribers == 1:
            break
        await asyncio.sleep(0.02)
    assert run.subscribers == 1
    # B dies: no detach is ever sent, its heartbeat stops.
    for task in b.cluster._tasks:
        task.cancel()
    remote.followed.unfollow()
    await b.cluster.client.delete(b.cluster.keys.replica(b.cluster.replica_id))
    assert run.task is not None
    await asyncio.wait_for(asyncio.shield(run.task), 5)
    assert run.status is RunStatus.CANCELLED and run.subscribers == 0


@pytest.mark.parametrize(
    "record",
    [
        {"status": "completed", "ended_at": "1.0"},  # what an end wrote after Redis lost the rest
        {"route": "count", "status": "no-such-status", "trace_id": "0", "created_at": "1.0"},
    ],
)
async def test_an_unusable_record_is_an_unknown_run_not_an_error(
    gateways: Make, redis_url: str, prefix: str, record: dict[str, str]
) -> None:
    (gateway,) = await gateways(1)
    run_id = f"{time.time_ns():032x}"[-32:]
    sync_redis(redis_url).hset(f"{prefix}:run:{run_id}", mapping=record)
    assert await gateway.find_run(run_id) is None


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "metadata",
    [{"note": "a\ud800b"}, {"tree": _nested(300)}],
    ids=["lone-surrogate", "nested-300"],
)
async def test_a_run_with_metadata_redis_cannot_hold_still_runs_and_ends_there(
    gateways: Make, redis_url: str, prefix: str, metadata: dict[str, Any]
) -> None:
    """Metadata JSON cannot encode must not fail the start after the run is registered
    (it used to leave a task-less run counted live): the run runs, and ends in Redis too."""
    a, b = await gateways(2)
    run, _ = await a.start_run("count", {"n": 3, "delay": 0}, metadata=metadata)
    assert run.task is not None
    await run.task
    assert await a.broker.flushed()  # type: ignore[attr-defined]
    client = sync_redis(redis_url)
    assert not client.sismember(f"{prefix}:live", run.id)
    assert client.hget(f"{prefix}:run:{run.id}", "status") == b"completed"
    remote = await _remote(b, run.id)
    assert remote.status is RunStatus.COMPLETED
    # Shared in its plain form: the surrogate escaped, the deepest levels as text.
    assert remote.metadata["key_alias"] == "anonymous"
    assert set(remote.metadata) == {"key_alias", *metadata}
    if "note" in metadata:
        assert remote.metadata["note"] == "a\\ud800b"


async def test_republishing_rewrites_only_what_redis_lost(
    gateways: Make, redis_url: str, prefix: str
) -> None:
    a, b = await gateways(2)
    assert a.cluster is not None
    kept, _ = await a.start_run("count", {"n": 1000}, on_disconnect="continue")
    lost, _ = await a.start_run("count", {"n": 1000}, on_disconnect="continue")
    for _ in range(500):  # a few events in
        if lost.log.last_seq >= 3:
            break
        await asyncio.sleep(0.01)
    assert await a.broker.flushed()  # type: ignore[attr-defined]
    client = sync_redis(redis_url)
    client.delete(f"{prefix}:run:{lost.id}", f"{prefix}:log:{lost.id}")
    client.srem(f"{prefix}:live", lost.id)
    assert await b.find_run(lost.id) is None
    assert await a.cluster.published.republish(ended_since=time.time()) == 1
    assert await a.broker.flushed()  # type: ignore[attr-defined]
    assert client.sismember(f"{prefix}:live", lost.id)
    remote = await _remote(b, lost.id)
    held = remote.log.since(0)
    assert len(held) >= 3
    assert [(e.seq, e.type, e.data) for e in held] == [
        (e.seq, e.type, e.data) for e in lost.log.since(0)[: len(held)]
    ]
    assert remote.cancel("moderator") and kept.cancel("done")
    await remote.settle(5.0)
    assert lost.status is RunStatus.CANCELLED
