"""Identical calls of one lineage racing — runs redoing the same work at once (a resume on
one replica while another still runs it): one executes, the others wait and replay."""

from __future__ import annotations

import asyncio

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
