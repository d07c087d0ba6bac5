"""Identical calls of one lineage racing — runs redoing the same work at once (a resume on
one replica while another still runs it): one executes, the others wait and replay."""

from __future__ import annotations

import asyncio
from typing import Any

from tokenwire.actions import ActionScope, MemoryLedger, action, action_scope


async def test_twenty_concurrent_identical_calls_execute_once() -> None:
    ledger = MemoryLedger()
    executions: list[str] = []
    release = asyncio.Event()
    started = asyncio.Event()

    @action
    async def create_ticket(title: str) -> dict[str, str]:
        executions.append(title)
        started.set()
        await release.wait()  # the others arrive while this one is running
        return {"id": "T-1"}

    async def one_run(n: int) -> dict[str, str]:
        scope = ActionScope("thread:t", f"run-{n}", ledger, asyncio.get_running_loop(), "t")
        with action_scope(scope):
            return await create_ticket("refund")

    calls = [asyncio.create_task(one_run(n)) for n in range(20)]
    await started.wait()
    for _ in range(50):  # let every other call reach the ledger and find it running
        await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*calls)
    assert executions == ["refund"]
    assert results == [{"id": "T-1"}] * 20
    (entry,) = await ledger.entries()
    assert (entry.status, entry.run_id) == ("succeeded", "run-0")


async def test_a_call_left_running_by_a_dead_run_is_taken_over() -> None:
    """A replica killed mid-call leaves its entry ``running``: a run redoing the work
    executes it again (the key it hands downstream keeps that single) instead of waiting."""
    ledger = MemoryLedger()
    executions: list[str] = []

    @action
    async def create_ticket(title: str) -> str:
        executions.append(title)
        return "T-2"

    async def run_in(run_id: str, alive: set[str]) -> str:
        async def is_alive(other: str) -> bool:
            return other in alive

        loop = asyncio.get_running_loop()
        scope = ActionScope("thread:t", run_id, ledger, loop, "t", alive=is_alive)
        with action_scope(scope):
            return await create_ticket("refund")

    # The dead run's entry, as its replica left it.
    scope = ActionScope("thread:t", "dead", ledger, asyncio.get_running_loop(), "t")
    with action_scope(scope):
        from tokenwire.actions.call import Call

        args = {"title": "refund"}
        call = Call(scope, "create_ticket", False, args, args)
        assert await call.claim() is None  # "dead" began it, and never finished
    assert await run_in("resumed", alive=set()) == "T-2"
    assert executions == ["refund"]
    (entry,) = await ledger.entries()
    assert (entry.status, entry.run_id) == ("succeeded", "resumed")


async def test_a_shadow_run_executes_no_action_and_reports_each_call() -> None:
    ledger = MemoryLedger()
    executions: list[str] = []
    reported: list[tuple[str, dict[str, object]]] = []

    @action
    async def create_ticket(title: str) -> str:
        executions.append(title)
        return "T-3"

    @action
    def close_ticket(ticket: str) -> str:
        executions.append(ticket)
        return "closed"

    def report(kind: str, data: dict[str, object]) -> None:
        reported.append((kind, data))

    loop = asyncio.get_running_loop()
    scope = ActionScope("run:r", "r", ledger, loop, None, shadow=True, report=report)
    with action_scope(scope):
        created: Any = await create_ticket("refund")  # a placeholder, not the str
        closed: Any = await asyncio.to_thread(close_ticket, "T-3")  # a sync tool's worker thread
    assert executions == []
    assert created["status"] == closed["status"] == "skipped_shadow"
    assert [(k, d["name"], d["args"]) for k, d in reported] == [
        ("action.skipped_shadow", "create_ticket", {"title": "refund"}),
        ("action.skipped_shadow", "close_ticket", {"ticket": "T-3"}),
    ]
    assert await ledger.entries() == []
