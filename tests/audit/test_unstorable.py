"""One record can never wedge the audit writer: what no serialiser takes is stored in a plain
form and flagged, what the store refuses is stored as a minimal record, and the runs after
it keep being recorded — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from prometheus_client import CollectorRegistry

from tests.audit.conftest import Backend, _admin
from tests.audit.test_trail import finished_run
from tokenwire.audit import AuditStore, AuditTrail, verify
from tokenwire.audit.metrics import AuditCollector

_FLUSH_SECONDS = 30  # a wedged writer never flushes: fail instead of hanging


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"next": value}
    return value


async def _records(trail: AuditTrail) -> list[dict[str, Any]]:
    await asyncio.wait_for(trail.flush(), _FLUSH_SECONDS)
    return await trail.store.page(limit=1000)


async def test_inputs_no_serialiser_takes_are_stored_plain_and_flagged(backend: Backend) -> None:
    trail = AuditTrail(backend.store(), batch_delay=0)
    await trail.start()
    try:
        trail.submit(finished_run("surrogate"), {"question": "a\ud800b"})
        trail.submit(finished_run("deep"), _nested(300))
        trail.submit(finished_run("huge"), {"n": 1 << 70})
        trail.submit(finished_run("after"), "a normal question")
        records = {r["run_id"]: r for r in await _records(trail)}
        assert set(records) == {"surrogate", "deep", "huge", "after"}
        assert records["surrogate"]["input"] == {"question": "a\\ud800b"}
        assert records["huge"]["input"] == {"n": str(1 << 70)}
        for run_id in ("surrogate", "deep", "huge"):
            assert records[run_id]["sanitized"] == ["input"]
        assert "sanitized" not in records["after"]
        assert records["after"]["input"] == "a normal question"
        assert (await verify(trail.store)).ok
        assert trail.dropped == 0
    finally:
        await trail.aclose()


async def test_a_record_the_store_refuses_is_kept_minimal(postgres: str) -> None:
    """PostgreSQL's text columns refuse NUL: the run's record goes in without what was
    refused, the runs after it in full, and the chain still verifies."""
    schema = f"tw_audit_{secrets.token_hex(6)}"
    trail = AuditTrail(AuditStore(postgres, schema=schema), batch_delay=0.05)
    await trail.start()
    try:
        refused = finished_run("refused")
        refused.metadata["key_alias"] = "team\x00a"
        trail.submit(finished_run("before"), "q1")
        trail.submit(refused, "q2")
        trail.submit(finished_run("after"), "q3")
        records = await _records(trail)
        assert [r["run_id"] for r in records] == ["before", "refused", "after"]
        minimal = records[1]
        assert "the store refused its record" in minimal["unstorable"]
        assert minimal["key_alias"] == "team\\x00a" and "input" not in minimal
        assert records[2]["input"] == "q3"
        assert trail.unstorable == 1 and trail.dropped == 0
        assert (await verify(trail.store)).ok
        registry = CollectorRegistry()
        registry.register(AuditCollector(trail))
        assert (
            registry.get_sample_value("tokenwire_audit_records_total", {"outcome": "unstorable"})
            == 1
        )
        assert (
            registry.get_sample_value("tokenwire_audit_records_total", {"outcome": "written"}) == 3
        )
    finally:
        await trail.aclose()
        drop = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
        await asyncio.get_running_loop().run_in_executor(None, _admin, drop)
