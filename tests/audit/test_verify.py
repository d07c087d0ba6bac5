"""``tokenwire audit verify`` on SQLite and PostgreSQL: an intact chain passes; one changed
byte, an inserted row or a deleted row fails, naming the first bad sequence."""

from __future__ import annotations

import asyncio

import pytest

from tests.audit.conftest import Backend
from tests.audit.helpers import audit_cli, entry, fill, sql
from tokenwire.audit import AuditStoreMissing, canonical_json, link_hash
from tokenwire.server.cli import main


def test_an_intact_chain_passes_and_prints_its_head(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = fill(backend, 5)
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    assert "audit chain OK: 5 records" in out
    assert f"head {head.head}" in out
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", head.head)
    assert code == 0, out


@pytest.mark.parametrize("column", ["body", "hash", "prev_hash"])
def test_one_changed_byte_fails(
    backend: Backend, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    fill(backend, 5)
    [(value,)] = sql(backend, f"SELECT {column} FROM audit_records WHERE sequence = 3")
    middle = len(value) // 2
    changed = value[:middle] + ("0" if value[middle] != "0" else "1") + value[middle + 1 :]
    sql(backend, f"UPDATE audit_records SET {column} = :v WHERE sequence = 3", v=changed)
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 3" in out


def test_an_edited_query_column_fails(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    # The columns copied out of the body for SQL queries are checked against it too.
    fill(backend, 4)
    sql(backend, "UPDATE audit_records SET status = 'failed' WHERE sequence = 2")
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 2" in out and "'status'" in out


def test_a_deleted_row_fails(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    fill(backend, 5)
    sql(backend, "DELETE FROM audit_records WHERE sequence = 3")
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 3: missing (deleted record)" in out


def test_a_deleted_last_row_fails_against_the_chain_head(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(backend, 5)
    sql(backend, "DELETE FROM audit_records WHERE sequence = 5")
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 5" in out and "tail" in out


def test_a_truncated_tail_with_a_rewritten_head_needs_the_external_anchor(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = fill(backend, 5)
    [(hash4,)] = sql(backend, "SELECT hash FROM audit_records WHERE sequence = 4")
    sql(backend, "DELETE FROM audit_records WHERE sequence = 5")
    sql(backend, "UPDATE audit_chain SET head_sequence = 4, head_hash = :h", h=hash4)
    # Consistent on its own: only a head kept outside the database shows the loss.
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", head.head)
    assert code == 1
    assert "BROKEN at sequence 5" in out and "tail" in out


def _forge(prev_hash: str, sequence: int) -> dict[str, object]:
    """A well-formed record a tamperer could compute (the algorithm is public)."""
    body = canonical_json({**entry(999), "sequence": sequence, "recorded_at": 1.0})
    return {
        "sequence": sequence,
        "run_id": "run-0999",
        "route": "chat",
        "status": "completed",
        "key_alias": "team-a",
        "recorded_at": 1.0,
        "prev_hash": prev_hash,
        "hash": link_hash(prev_hash, body),
        "body": body,
    }


_INSERT = (
    "INSERT INTO audit_records (sequence, run_id, route, status, key_alias, recorded_at,"
    " prev_hash, hash, body) VALUES (:sequence, :run_id, :route, :status, :key_alias,"
    " :recorded_at, :prev_hash, :hash, :body)"
)


def test_a_row_inserted_after_the_head_fails(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = fill(backend, 3)
    sql(backend, _INSERT, **_forge(head.head_hash, 4))
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    assert "BROKEN at sequence 4" in out and "beyond the chain head" in out


def test_a_row_inserted_in_the_middle_fails(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(backend, 5)
    [(hash2,)] = sql(backend, "SELECT hash FROM audit_records WHERE sequence = 2")
    # Make room at 3 (two steps: the primary key is checked row by row on PostgreSQL).
    sql(backend, "UPDATE audit_records SET sequence = -sequence WHERE sequence >= 3")
    sql(backend, "UPDATE audit_records SET sequence = 1 - sequence WHERE sequence < 0")
    sql(backend, _INSERT, **_forge(hash2, 3))
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 1
    # The forged row itself links correctly; the shifted original after it cannot.
    assert "BROKEN at sequence 4" in out


def test_an_appended_forgery_with_an_updated_head_needs_the_external_anchor(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    head = fill(backend, 3)
    [(hash2,)] = sql(backend, "SELECT hash FROM audit_records WHERE sequence = 2")
    forged = _forge(hash2, 3)
    sql(backend, "DELETE FROM audit_records WHERE sequence = 3")
    sql(backend, _INSERT, **forged)
    sql(backend, "UPDATE audit_chain SET head_hash = :h", h=forged["hash"])
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out  # a rewrite by someone who can write the database and hash
    code, out = audit_cli(backend, capsys, "verify", "--expect-head", head.head)
    assert code == 1
    assert "not in the chain" in out


def test_concurrent_writers_extend_one_chain(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two stores = two processes or replicas: appends are serialised by the chain lock.
    async def race() -> None:
        stores = [backend.store(), backend.store()]
        try:
            await asyncio.gather(*(s.create() for s in stores))
            await asyncio.gather(
                *(stores[n % 2].append([entry(n), entry(n + 100)]) for n in range(20))
            )
        finally:
            for store in stores:
                await store.aclose()

    asyncio.run(race())
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 0, out
    assert "40 records" in out


def test_verify_of_a_missing_store_is_an_error(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 2
    assert "no audit" in out


def test_an_unreadable_database_is_a_clear_error(
    postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    url = postgres.rsplit("/", 1)[0] + "/tokenwire_no_such_database"
    assert main(["audit", "verify", "--url", url]) == 2
    assert "cannot read the audit store" in capsys.readouterr().err


def test_a_deleted_chain_head_row_stops_verify_and_writers(
    backend: Backend, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(backend, 2)
    sql(backend, "DELETE FROM audit_chain")
    code, out = audit_cli(backend, capsys, "verify")
    assert code == 2 and "chain-head row is missing" in out
    with pytest.raises(AuditStoreMissing, match="deleted"):
        fill(backend, 1, start=3)
