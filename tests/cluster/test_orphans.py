"""The runs of a dead replica, in process: ended once and audited once however many
survivors sweep at once; the input kept for that audit lives in Redis only while the run
does. Gateways over the real Redis (see conftest), audit trails on one shared SQLite file."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from tests.cluster.conftest import ROUTES
from tests.redis_client import sync_redis
from tokenwire.audit import AuditStore, AuditTrail, verify
from tokenwire.broker.redis import encode_events
from tokenwire.config import Settings
from tokenwire.gateway import Gateway


@pytest.fixture
async def audited(prefix: str, redis_url: str, tmp_path: Path) -> AsyncIterator[list[Gateway]]:
    """Three replicas that audit into one SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    settings = Settings(redis_url=SecretStr(redis_url), redis_prefix=prefix, data_dir=str(tmp_path))
    gateways = [Gateway(ROUTES, settings, audit=AuditTrail(AuditStore(url))) for _ in range(3)]
    for gateway in gateways:
        await gateway.start()
    yield gateways
    for gateway in gateways:
        await gateway.aclose()


def _orphan(redis_url: str, prefix: str, input: Any) -> str:
    """A live run of a replica that died mid-stream, as it left Redis."""
    client = sync_redis(redis_url)
    run_id = secrets.token_hex(16)
    client.hset(
        f"{prefix}:run:{run_id}",
        mapping={
            "route": "count",
            "owner": "alice",
            "replica": "dead-replica",
            "status": "running",
            "trace_id": "7" * 32,
            "created_at": repr(time.time() - 5),
            "on_disconnect": "continue",
            "metadata": orjson.dumps({"key_alias": "alice"}),
            "input": orjson.dumps(input),
        },
    )
    start = {"run_id": run_id, "route": "count", "trace_id": "7" * 32, "model": "mock-1"}
    events = [("run.start", start), ("token", {"text": "half "}), ("token", {"text": "done"})]
    client.xadd(f"{prefix}:log:{run_id}", {"e": encode_events(events)}, id="3-0")
    client.sadd(f"{prefix}:live", run_id)
    client.sadd(f"{prefix}:owner:alice", run_id)
    return run_id


async def test_survivors_sweeping_at_once_end_and_audit_an_orphan_once(
    audited: list[Gateway], redis_url: str, prefix: str
) -> None:
    run_id = _orphan(redis_url, prefix, {"question": "why?"})
    sweeps = [gateway.cluster.sweep_orphans() for gateway in audited if gateway.cluster]
    assert sum(await asyncio.gather(*sweeps)) == 1
    again = [gateway.cluster.sweep_orphans() for gateway in audited if gateway.cluster]
    assert sum(await asyncio.gather(*again)) == 0
    for gateway in audited:
        assert gateway.audit is not None
        await gateway.audit.flush()
    assert audited[0].audit is not None
    store = audited[0].audit.store
    records = await store.page()
    assert [r["run_id"] for r in records] == [run_id]
    (record,) = records
    assert record["status"] == "failed" and record["error"]["code"] == "incomplete_stream"
    assert record["route"] == "count" and record["key_alias"] == "alice"
    assert record["trace_id"] == "7" * 32 and record["model"] == "mock-1"
    assert record["input"] == {"question": "why?"}
    assert record["output"] == "half done"
    assert record["created_at"] < record["ended_at"]
    assert (await verify(store)).ok
    client = sync_redis(redis_url)
    assert not client.hexists(f"{prefix}:run:{run_id}", "input")  # kept only while live


async def test_an_orphan_whose_record_is_gone_is_still_audited(
    audited: list[Gateway], redis_url: str, prefix: str
) -> None:
    """Counted live, record lost (it expired, or Redis lost it): ``run.start`` says enough."""
    run_id = _orphan(redis_url, prefix, "hi")
    sync_redis(redis_url).delete(f"{prefix}:run:{run_id}")
    (gateway, *_) = audited
    assert gateway.cluster is not None and gateway.audit is not None
    assert await gateway.cluster.sweep_orphans() == 1
    await gateway.audit.flush()
    (record,) = await gateway.audit.store.page()
    assert (record["run_id"], record["route"], record["status"]) == (run_id, "count", "failed")
    assert record["trace_id"] == "7" * 32 and record["output"] == "half done"
    assert record["key_alias"] is None and record["input"] is None  # they were in the record


async def test_a_live_runs_input_is_kept_for_its_audit_only_while_it_runs(
    audited: list[Gateway], redis_url: str, prefix: str
) -> None:
    (gateway, *_) = audited
    run, _ = await gateway.start_run("count", {"n": 3, "delay": 0.05})
    await gateway.broker.flushed()  # type: ignore[attr-defined]
    client = sync_redis(redis_url)
    key = f"{prefix}:run:{run.id}"
    assert orjson.loads(client.hget(key, "input") or b"null") == {"n": 3, "delay": 0.05}
    assert run.task is not None
    await run.task
    await gateway.broker.flushed()  # type: ignore[attr-defined]
    assert client.hget(key, "status") == b"completed"
    assert not client.hexists(key, "input")


async def test_without_an_audit_trail_no_input_goes_to_redis(
    gateways: Any, redis_url: str, prefix: str
) -> None:
    (gateway,) = await gateways(1)
    run, _ = await gateway.start_run("count", {"n": 100})
    await gateway.broker.flushed()
    record = sync_redis(redis_url).hgetall(f"{prefix}:run:{run.id}")
    assert record[b"route"] == b"count" and b"input" not in record
