"""An outcome written durably: the write of how a call ended is retried with backoff; one
that never goes through does not fail the call — its result reaches the agent, the run's
audit record keeps it ``recorded: false`` — and the row it leaves ``running`` is taken
over by a later duplicate once its run has ended, with the same idempotency key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.actions.crm import Crm
from tests.actions.faults import FailingFinish
from tokenwire import Route
from tokenwire.actions import ActionEntry, ActionScope, action, action_scope, current_key
from tokenwire.actions.durable import DELAYS, DurableLedger
from tokenwire.actions.sql_ledger import SqlLedger
from tokenwire.audit.trail import AuditTrail
from tokenwire.gateway import Gateway
from tokenwire.testing import collect, poll_until, serve, test_settings


@pytest.fixture
async def sql_ledger(tmp_path: Path) -> AsyncIterator[SqlLedger]:
    ledger = SqlLedger.at(f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}")
    await ledger.setup()
    yield ledger
    await ledger.aclose()


class _Pauses:
    """The backoff's sleep, recorded instead of slept."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


async def test_a_write_that_fails_for_a_moment_is_retried_with_backoff(
    sql_ledger: SqlLedger,
) -> None:
    flaky, pauses = FailingFinish(sql_ledger, failures=2), _Pauses()
    ledger = DurableLedger(flaky, delays=(0.1, 0.4, 1.6), sleep=pauses)
    assert await ledger.begin(ActionEntry("k", "refund", {"order": "A"}, "r1")) is None
    await ledger.finish("k", "succeeded", {"id": 7}, run_id="r1")
    assert (flaky.attempts, pauses.slept) == (3, [0.1, 0.4])
    done: Any = await sql_ledger.get("k")
    assert (done.status, done.result) == ("succeeded", {"id": 7})


async def test_a_write_that_never_goes_through_is_kept_not_raised(
    sql_ledger: SqlLedger,
) -> None:
    kept: list[tuple[str, dict[str, Any]]] = []
    flaky, pauses = FailingFinish(sql_ledger), _Pauses()
    ledger = DurableLedger(flaky, keep=lambda *a: kept.append(a), sleep=pauses)
    assert await ledger.begin(ActionEntry("k", "refund", {"order": "A"}, "r1")) is None
    await ledger.finish("k", "succeeded", {"id": 7}, run_id="r1")  # does not raise
    assert (flaky.attempts, pauses.slept) == (len(DELAYS) + 1, list(DELAYS))
    assert kept == [
        (
            "action.committed",
            {"key": "k", "name": "refund", "args": {"order": "A"}, "result": {"id": 7}}
            | {"recorded": False},
        )
    ]
    with pytest.raises(ConnectionError):  # intended: nothing executed, so the call may fail
        await ledger.finish("k", "intended", run_id="r1")


async def test_a_row_left_running_by_an_ended_run_is_executed_again_with_its_key(
    sql_ledger: SqlLedger,
) -> None:
    """The first run's call executed, its outcome never recorded: the agent still got the
    result. Once that run has ended, a duplicate takes the row over and executes again —
    handing the system of record the same key, which keeps its side single."""
    keys: list[str | None] = []
    kept: list[tuple[str, dict[str, Any]]] = []

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        keys.append(current_key())
        return {"id": len(keys)}

    live = {"run-1"}

    async def alive(run_id: str) -> bool:
        return run_id in live

    async def run(run_id: str, ledger: Any) -> Any:
        loop = asyncio.get_running_loop()
        scope = ActionScope("thread:t", run_id, ledger, loop, "t", alive=alive)
        with action_scope(scope):
            return await create_ticket("refund")

    down = DurableLedger(FailingFinish(sql_ledger), keep=lambda *a: kept.append(a), sleep=_Pauses())
    assert await run("run-1", down) == {"id": 1}  # executed; the ledger never took it
    assert [(k, d["recorded"]) for k, d in kept] == [("action.committed", False)]
    (stuck,) = await sql_ledger.entries()
    assert (stuck.status, stuck.run_id) == ("running", "run-1")
    live.discard("run-1")  # the run ended
    assert await run("run-2", DurableLedger(sql_ledger, sleep=_Pauses())) == {"id": 2}
    assert keys[0] is not None and keys == [keys[0], keys[0]]
    (entry,) = await sql_ledger.entries()
    assert (entry.status, entry.run_id, entry.result) == ("succeeded", "run-2", {"id": 2})


def test_through_the_gateway_the_agent_gets_the_result_and_the_audit_keeps_it(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    records, url = crm

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        return created

    async def file(payload: dict[str, Any]) -> Any:
        return await create_ticket(payload["title"])

    settings = test_settings(data_dir=str(tmp_path))
    gateway = Gateway(
        [Route("file", RunnableLambda(file), mode="events")],
        settings,
        audit=AuditTrail.from_settings(settings),
    )
    gateway._launcher.actions = FailingFinish(gateway.actions)  # the database goes away
    with serve(gateway) as client:
        events = collect(client, "file", {"input": {"title": "refund"}})
        end = events[-1].data
        assert [e.event for e in events].count("run.end") == 1
        assert (end["status"], end["output"]) == ("completed", {"id": 1})

        def audited() -> Any:
            found = client.get("/v1/audit/records").json()["records"]
            return found[0] if found else None

        record = poll_until(audited, timeout=30)
    assert len(records.tickets) == 1
    (kept,) = record["actions"]
    assert (kept["event"], kept["seq"], kept["recorded"]) == ("action.committed", None, False)
    assert (kept["name"], kept["args"], kept["result"]) == (
        "create_ticket",
        {"title": "refund"},
        {"id": 1},
    )
