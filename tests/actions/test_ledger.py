"""The action ledger on every backend: one ``begin`` of a key wins, later ones read what
it did; a failed key may be retried by exactly one call."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.postgres import POSTGRES_URL, pg_admin
from tokenwire.actions import ActionEntry, MemoryLedger
from tokenwire.actions.ledger import Ledger
from tokenwire.actions.retention import LedgerRetention
from tokenwire.actions.sql_ledger import SqlLedger


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    if request.param == "memory":
        yield MemoryLedger()
        return
    if request.param == "sqlite":
        found: Ledger = SqlLedger.at(f"sqlite+aiosqlite:///{tmp_path / 'actions.db'}")
        await found.setup()
        yield found
        await found.aclose()
        return
    request.getfixturevalue("checkpoint_postgres")
    schema = f"tw_actions_{secrets.token_hex(6)}"
    pg_admin(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://")
    found = SqlLedger.at(url, schema=schema)
    await found.setup()
    yield found
    await found.aclose()
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _entry(key: str = "k", run_id: str = "r1") -> ActionEntry:
    return ActionEntry(key, "create_ticket", {"title": "x"}, run_id, "t")


async def test_the_first_begin_wins_and_later_ones_read_it(ledger: Ledger) -> None:
    assert await ledger.begin(_entry()) is None
    running = await ledger.begin(_entry(run_id="r2"))
    assert running is not None and (running.status, running.run_id) == ("running", "r1")
    await ledger.finish("k", "succeeded", {"id": 7})
    done: Any = await ledger.get("k")
    assert (done.status, done.result, done.args) == ("succeeded", {"id": 7}, {"title": "x"})
    assert done.finished_at is not None and done.thread_id == "t"


async def test_a_failed_key_is_retried_once(ledger: Ledger) -> None:
    await ledger.begin(_entry())
    await ledger.finish("k", "failed", error="boom")
    assert await ledger.retry(_entry(run_id="r2")) is True
    assert await ledger.retry(_entry(run_id="r3")) is False  # r2 holds it now
    again: Any = await ledger.get("k")
    assert (again.status, again.run_id) == ("running", "r2")


async def test_entries_filter_newest_first(ledger: Ledger) -> None:
    await ledger.begin(_entry("a", "r1"))
    await ledger.finish("a", "succeeded", 1)
    await ledger.begin(ActionEntry("b", "refund", {}, "r2", None))
    await ledger.finish("b", "failed", error="no")
    assert [e.key for e in await ledger.entries()] == ["b", "a"]
    assert [e.key for e in await ledger.entries(thread_id="t")] == ["a"]
    assert [e.key for e in await ledger.entries(status="failed")] == ["b"]
    assert [e.key for e in await ledger.entries(run_id="r1", status="failed")] == []
    assert len(await ledger.entries(limit=1)) == 1


async def test_a_running_key_is_taken_over_only_from_its_holder(ledger: Ledger) -> None:
    await ledger.begin(_entry(run_id="dead"))
    stale: Any = await ledger.get("k")
    other = ActionEntry("k", "create_ticket", {}, "someone-else")
    assert await ledger.retry(_entry(run_id="r2"), holder=other) is False
    assert await ledger.retry(_entry(run_id="r2"), holder=stale) is True
    assert await ledger.retry(_entry(run_id="r3"), holder=stale) is False  # r2 holds it
    now: Any = await ledger.get("k")
    assert (now.status, now.run_id) == ("running", "r2")


async def test_finish_and_release_act_only_for_the_holder(ledger: Ledger) -> None:
    await ledger.begin(_entry(run_id="r1"))
    await ledger.finish("k", "succeeded", 1, run_id="r9")  # not the holder: nothing
    held: Any = await ledger.get("k")
    assert held.status == "running"
    await ledger.release("k", "r9")
    assert await ledger.get("k") is not None
    await ledger.release("k", "r1")  # paused inside: the redone work begins afresh
    assert await ledger.get("k") is None
    assert await ledger.begin(_entry(run_id="r2")) is None


async def test_replicas_setting_up_one_database_at_once(tmp_path: Path) -> None:
    """Two gateways starting together on one audit database both find the table ready."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    ledgers = [SqlLedger.at(url) for _ in range(6)]
    try:
        await asyncio.gather(*(ledger.setup() for ledger in ledgers))
        assert await ledgers[0].begin(_entry()) is None
        assert await ledgers[-1].get("k") is not None
    finally:
        await asyncio.gather(*(ledger.aclose() for ledger in ledgers))


async def test_retention_deletes_only_finished_entries_past_it(ledger: Ledger) -> None:
    """The sweep's clock is injected: an hour from now, the finished entries are past a
    retention of a minute, the running one is not deleted whatever its age."""
    await ledger.begin(_entry("done"))
    await ledger.finish("done", "succeeded", 1, sealed="opaque")
    await ledger.begin(_entry("failed"))
    await ledger.finish("failed", "failed", error="no")
    await ledger.begin(_entry("running"))
    assert (await ledger.get("done")).sealed == "opaque"  # type: ignore[union-attr]
    assert await LedgerRetention(ledger, 60).sweep() == 0  # not a minute old yet
    later = LedgerRetention(ledger, 60, now=lambda: time.time() + 3600)
    assert await later.sweep() == 2
    assert [e.key for e in await ledger.entries()] == ["running"]
    assert await LedgerRetention(ledger, 0, now=lambda: time.time() + 3600).sweep() == 0
