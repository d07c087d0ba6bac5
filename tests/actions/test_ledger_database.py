"""The action ledger in the audit database, through the audit store's own engine (one
place opens that database), on SQLite and PostgreSQL; and its retention sweep."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langchain_core.runnables import RunnableLambda
from psycopg import sql

from tests.actions.crm import Crm
from tests.postgres import POSTGRES_URL, pg_admin
from tokenwire import Route
from tokenwire.actions import action
from tokenwire.actions.sql_ledger import SqlLedger
from tokenwire.audit.trail import AuditTrail
from tokenwire.gateway import Gateway
from tokenwire.testing import collect, poll_until, serve, test_settings


def _ticket_route(url: str) -> Route:
    import httpx

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        return created

    async def file(payload: dict[str, Any]) -> Any:
        return await create_ticket(payload["title"])

    return Route("file", RunnableLambda(file), mode="events")


@pytest.fixture(params=["sqlite", "postgres"])
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Settings putting the audit database on SQLite (``data_dir``) or in a schema of its
    own on the real PostgreSQL."""
    if request.param == "sqlite":
        yield {"data_dir": str(tmp_path)}
        return
    request.getfixturevalue("checkpoint_postgres")
    schema = f"tw_ledger_{secrets.token_hex(6)}"
    url = POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://")
    yield {"data_dir": str(tmp_path), "audit_url": url, "audit_schema": schema}
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _stored_keys(settings: dict[str, Any]) -> list[str]:
    """The ledger's keys, read with SQL where the audit records are."""
    if "audit_schema" not in settings:
        with sqlite3.connect(Path(settings["data_dir"]) / "audit.db") as db:
            return [row[0] for row in db.execute("SELECT key FROM tokenwire_actions")]
    query = sql.SQL("SELECT key FROM {}.tokenwire_actions").format(
        sql.Identifier(settings["audit_schema"])
    )
    with psycopg.connect(POSTGRES_URL) as conn:
        return [row[0] for row in conn.execute(query)]


def test_the_ledger_shares_the_audit_stores_engine(
    crm: tuple[Crm, str], audit_db: dict[str, Any]
) -> None:
    records, url = crm
    settings = test_settings(**audit_db)
    trail = AuditTrail.from_settings(settings)
    gateway = Gateway([_ticket_route(url)], settings, audit=trail)
    ledger = gateway.actions
    assert isinstance(ledger, SqlLedger) and ledger.database is trail.store.database
    with serve(gateway) as client:
        for _ in range(2):  # two runs, two lineages: two tickets, both recorded
            end = collect(client, "file", {"input": {"title": "refund"}})[-1].data
            assert end["status"] == "completed", end
        listed = client.get("/v1/actions").json()["actions"]
        # The audit records, written by the same engine.
        poll_until(lambda: len(client.get("/v1/audit/records").json()["records"]) == 2, timeout=30)
    assert len(records.tickets) == 2
    assert sorted(e["key"] for e in listed) == sorted(_stored_keys(audit_db))


def test_finished_entries_are_swept_past_the_retention(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    _, url = crm
    with serve(
        [_ticket_route(url)],
        data_dir=str(tmp_path),
        actions_retention_seconds=0.001,
        sweep_interval_seconds=0.05,
    ) as client:
        collect(client, "file", {"input": {"title": "refund"}})
        poll_until(lambda: client.get("/v1/actions").json()["actions"] == [], timeout=30)
    assert _stored_keys({"data_dir": str(tmp_path)}) == []


async def test_a_table_made_by_the_first_version_gains_the_later_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "audit.db"
    with sqlite3.connect(path) as db:  # the table as the first version created it
        db.execute(
            "CREATE TABLE tokenwire_actions (key VARCHAR(64) PRIMARY KEY, action VARCHAR NOT"
            " NULL, args TEXT NOT NULL, status VARCHAR(16) NOT NULL, result TEXT, error TEXT,"
            " started_at FLOAT NOT NULL, finished_at FLOAT, run_id VARCHAR NOT NULL,"
            " thread_id VARCHAR)"
        )
    ledger = SqlLedger.at(f"sqlite+aiosqlite:///{path}")
    try:
        await ledger.setup()
        from tokenwire.actions import ActionEntry

        assert await ledger.begin(ActionEntry("k", "refund", {}, "r1")) is None
        await ledger.finish("k", "intended", commit_args={"order": "A"})
        found: Any = await ledger.get("k")
        assert (found.status, found.commit_args) == ("intended", {"order": "A"})
        await ledger.finish("k", "succeeded", "[EMAIL]", sealed="opaque")
        found = await ledger.get("k")
        assert (found.result, found.sealed, found.commit_args) == ("[EMAIL]", "opaque", None)
    finally:
        await ledger.aclose()
