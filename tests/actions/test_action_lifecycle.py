"""An action's call through the run's life: paused inside by ``interrupt()``, retried by
the run's retry policy, finished late by a run that lost its key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tokenwire import RetryPolicy, Route
from tokenwire.actions import ActionEntry, MemoryLedger, action
from tokenwire.testing import collect, serve


def test_an_interrupt_inside_an_action_pauses_it_not_fails_it(tmp_path: Any) -> None:
    sent: list[Any] = []

    @action
    async def send_email(to: str) -> str:
        confirmed = interrupt({"send to": to})  # approval inside the action itself
        sent.append(confirmed)
        return "sent"

    class State(TypedDict, total=False):
        result: str

    async def mail(state: State) -> State:
        return {"result": await send_email("ops")}

    builder = StateGraph(State)
    builder.add_node("mail", mail)
    builder.add_edge(START, "mail")
    builder.add_edge("mail", END)
    with serve([Route("mail", builder.compile())], data_dir=str(tmp_path)) as client:
        first = collect(client, "mail", {"input": {}, "thread_id": "t"})
        assert first[-1].data["status"] == "interrupted"
        resumed = collect(client, "mail", {"thread_id": "t", "command": {"resume": "yes"}})
        assert resumed[-1].data["status"] == "completed", resumed[-1].data
    assert sent == ["yes"]


def test_a_retried_attempt_replays_the_first_attempts_action(tmp_path: Any) -> None:
    executions: list[str] = []
    attempts: list[int] = []

    @action
    async def charge(order: str) -> str:
        executions.append(order)
        return "charged"

    async def flaky(payload: dict[str, Any]) -> AsyncIterator[str]:
        attempts.append(1)
        await charge(payload["order"])
        if len(attempts) == 1:  # the provider drops the first attempt before any token
            raise httpx.ConnectError("connection refused")
        yield "done"

    route = Route("pay", RunnableLambda(flaky), retry=RetryPolicy(max_retries=1, base_delay=0))
    with serve([route], data_dir=str(tmp_path)) as client:
        end = collect(client, "pay", {"input": {"order": "A"}})[-1].data
    assert end["status"] == "completed", end
    assert (len(attempts), executions) == (2, ["A"])


async def test_a_late_finish_does_not_overwrite_the_run_that_took_the_key_over() -> None:
    ledger = MemoryLedger()
    first = ActionEntry("k", "charge", {}, "dead")
    await ledger.begin(first)
    assert await ledger.retry(ActionEntry("k", "charge", {}, "alive"), holder=first)
    await ledger.finish("k", "failed", error="late", run_id="dead")  # the dead run, late
    now: Any = await ledger.get("k")
    assert (now.status, now.run_id) == ("running", "alive")
