"""Retention deletes whole oldest prefixes and leaves a checkpoint verification starts from;
export writes JSONL whose lines re-hash to the chain."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from tests.audit.conftest import Backend
from tests.audit.helpers import audit_cli, fill, sql
from tokenwire.audit import AuditTrail, canonical_json, link_hash


def _prune(backend: Backend, cutoff: float) -> int:
    async def run() -> int:
        store = backend.store()
        try:
            return await store.prune(cutoff)
        finally:
            await store.aclose()

    return asyncio.run(run())


def test_retention_prunes_a_prefix_and_verification_still_passes(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    old_head = fill(backend, 3)
    time.sleep(0.01)
    cutoff = time.time()
    head = fill(backend, 2, start=4)
    assert _prune(backend, cutoff) == 3
    assert _prune(backend, cutoff) == 0  # idempotent
    assert [r.sequence for r in sql(backend, "SELECT sequence FROM audit_records")] == [4, 5]
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", head.head)
    assert code == 0, out
    assert "2 records after checkpoint 3" in out
    # The checkpoint is the pruned head itself, so an anchor taken then still checks out.
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", old_head.head)
    assert code == 0, out
    # An anchor from inside the pruned range can no longer be checked: say so, fail.
    [(hash1,)] = sql(backend, "SELECT base_hash FROM audit_chain")
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", f"1:{'a' * 64}")
    assert code == 1 and "pruned" in out
    assert hash1 == old_head.head_hash


def test_after_retention_a_deleted_first_row_is_still_detected(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(backend, 2)
    time.sleep(0.01)
    cutoff = time.time()
    fill(backend, 3, start=3)
    _prune(backend, cutoff)
    sql(backend, "DELETE FROM audit_records WHERE sequence = 3")
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 3" in out


def test_pruning_everything_keeps_the_chain_going(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(backend, 3)
    assert _prune(backend, time.time() + 1) == 3
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    head = fill(backend, 2, start=4)
    assert head.head_sequence == 5
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    assert "2 records after checkpoint 3" in out


def test_the_trail_applies_its_retention_days(backend: Backend) -> None:
    fill(backend, 2)
    # Age the first two (an edit of hashed data: only the prune decision is checked here).
    sql(backend, "UPDATE audit_records SET recorded_at = recorded_at - 3 * 86400")
    fill(backend, 1, start=3)

    async def run() -> int:
        trail = AuditTrail(backend.store(), retention_days=2)
        try:
            return await trail.prune()
        finally:
            await trail.aclose()

    assert asyncio.run(run()) == 2


def test_export_writes_jsonl_that_rehashes_to_the_chain(
    backend: Backend, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    head = fill(backend, 4)
    out_file = tmp_path / "audit.jsonl"
    code, out = audit_cli(backend, capsys, "export", "--out", str(out_file))
    assert code == 0, out
    assert f"head {head.head}" in out
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["sequence"] for r in lines] == [1, 2, 3, 4]
    assert lines[2]["output"] == "answer number 3"
    prev = "0" * 64
    for record in lines:
        digest, linked = record.pop("hash"), record.pop("prev_hash")
        assert linked == prev
        assert link_hash(linked, canonical_json(record)) == digest
        prev = digest
    assert prev == head.head_hash
