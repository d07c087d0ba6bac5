"""A run's deferred actions settle without ever keeping the run from ending: a full event
log, a ledger that cannot be written and a system of record that never answers each
still end the run with exactly one ``run.end``; a run that paused on its thread hands its
intended calls to the thread's next run instead of discarding them."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tokenwire import Route
from tokenwire.actions import ActionEntry, MemoryLedger, action
from tokenwire.actions.commit import Deferred, commit_deferred
from tokenwire.actions.ledger import ActionStatus
from tokenwire.testing import collect, poll_until, serve


def _audited(client: Any, run_id: str) -> Any:
    def record() -> Any:
        records = client.get("/v1/audit/records").json()["records"]
        return next((r for r in records if r["run_id"] == run_id), None)

    return poll_until(record, timeout=30)


def test_a_truncated_run_ends_once_and_its_audit_keeps_the_discarded_call(
    tmp_path: Any,
) -> None:
    calls: list[str] = []

    @action(commit="after_validation")
    async def send_refund(order: str) -> str:
        calls.append(order)
        return "sent"

    async def chatty(payload: dict[str, Any]) -> AsyncIterator[str]:
        await send_refund(payload["order"])
        for n in range(200):  # far past the event limit
            yield f"{n} "

    routes = [Route("refund", RunnableLambda(chatty))]
    with serve(routes, data_dir=str(tmp_path), max_events_per_run=20) as client:
        events = collect(client, "refund", {"input": {"order": "A"}})
        ends = [e for e in events if e.event == "run.end"]
        assert len(ends) == 1 and ends[0].data["status"] == "truncated"
        assert calls == []  # a truncated run commits nothing
        audited = _audited(client, events[0].data["run_id"])
    (discarded,) = audited["actions"]
    assert (discarded["event"], discarded["seq"]) == ("action.discarded", None)
    assert discarded["args"] == {"order": "A"}


def test_a_commit_that_never_answers_fails_at_the_deadline_and_the_run_ends(
    tmp_path: Any,
) -> None:
    @action(commit="after_validation")
    async def hang(order: str) -> str:
        await asyncio.Event().wait()  # a system of record that never answers
        return "never"

    async def answer(payload: dict[str, Any]) -> AsyncIterator[str]:
        await hang(payload["order"])
        yield "done"

    routes = [Route("hang", RunnableLambda(answer))]
    with serve(routes, data_dir=str(tmp_path), action_commit_timeout_seconds=0.2) as client:
        events = collect(client, "hang", {"input": {"order": "A"}})
    kinds = [e.event for e in events]
    assert kinds.count("run.end") == 1 and events[-1].data["status"] == "completed"
    (failed,) = [e.data for e in events if e.event == "action.failed"]
    assert failed["error"].startswith("TimeoutError")


class _LedgerDown(MemoryLedger):
    """The database went away between executing a call and recording it."""

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        raise ConnectionError("the audit database is unreachable")


async def test_a_ledger_that_cannot_be_written_does_not_stop_the_commit() -> None:
    executed: list[str] = []

    async def execute(order: str) -> str:
        executed.append(order)
        return f"sent {order}"

    pending = [
        Deferred(ActionEntry(f"k{n}", "send", {"order": o}, "run-1", None), partial(execute, o))
        for n, o in enumerate(("A", "B"))
    ]
    reported: list[tuple[str, dict[str, Any]]] = []

    def report(kind: str, data: dict[str, Any]) -> None:
        reported.append((kind, data))

    await commit_deferred(pending, _LedgerDown(), Counter[Any](), report, limit_seconds=0)
    assert executed == ["A", "B"]  # the first write failing did not stop the second call
    assert [(k, d["result"], d["recorded"]) for k, d in reported] == [
        ("action.committed", "sent A", False),
        ("action.committed", "sent B", False),
    ]


class _State(TypedDict, total=False):
    order: str
    refund: Any
    approved: Any


def _refund_then_ask(calls: list[str], *, in_asking_node: bool) -> Any:
    @action(commit="after_validation")
    async def send_refund(order: str) -> str:
        calls.append(order)
        return f"refunded {order}"

    async def refund(state: _State) -> _State:
        if in_asking_node:
            return {}
        return {"refund": await send_refund(state["order"])}  # done before the pause

    async def ask(state: _State) -> _State:
        if in_asking_node:  # redone on resume: the same call, intended again
            await send_refund(state["order"])
        return {"approved": interrupt({"question": "ship it?"})}

    builder = StateGraph(_State)
    builder.add_node("refund", refund)
    builder.add_node("ask", ask)
    builder.add_edge(START, "refund")
    builder.add_edge("refund", "ask")
    builder.add_edge("ask", END)
    return builder.compile()


def test_a_paused_run_hands_its_intended_calls_to_the_resumed_run(tmp_path: Any) -> None:
    for again in (False, True):
        calls: list[str] = []
        graph = _refund_then_ask(calls, in_asking_node=again)
        with serve([Route("refund", graph)], data_dir=str(tmp_path / str(again))) as client:
            body = {"input": {"order": "A"}, "thread_id": "t"}
            paused = collect(client, "refund", body)
            assert paused[-1].data["status"] == "interrupted"
            assert not [e for e in paused if e.event.startswith("action.")]  # nothing settled
            assert calls == []
            resumed = collect(client, "refund", {"thread_id": "t", "command": {"resume": True}})
            assert resumed[-1].data["status"] == "completed"
            committed = [e.data for e in resumed if e.event == "action.committed"]
        assert len(committed) == 1 and committed[0]["result"] == "refunded A"
        assert calls == ["A"], f"called in the node that paused: {again}"


def test_a_retried_attempt_intends_its_deferred_call_again_and_it_commits_once(
    tmp_path: Any,
) -> None:
    """The retry redoes the call with the same key, held ``intended`` by this very run:
    it must intend it anew, not wait for itself until the duplicate-wait gives up."""
    from tokenwire.reliability.retry import RetryPolicy

    calls: list[str] = []
    attempts: list[int] = []

    @action(commit="after_validation")
    async def send_refund(order: str) -> str:
        calls.append(order)
        return f"refunded {order}"

    async def flaky(payload: dict[str, Any]) -> AsyncIterator[str]:
        attempts.append(1)
        await send_refund(payload["order"])
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused")  # before the first token: retried
        yield "done"

    route = Route("refund", RunnableLambda(flaky), retry=RetryPolicy(max_retries=1, base_delay=0))
    with serve([route], data_dir=str(tmp_path)) as client:
        events = collect(client, "refund", {"input": {"order": "A"}})
    assert events[-1].data["status"] == "completed", events[-1].data
    assert len(attempts) == 2
    assert [e.event for e in events].count("action.committed") == 1
    assert calls == ["A"]


def test_a_new_turn_on_a_paused_thread_discards_the_held_calls(tmp_path: Any) -> None:
    """Only the run that answers the pause (a resume) takes the paused run's intended calls
    over; a run with new input on the thread leaves them uncommitted, and says so."""
    calls: list[str] = []
    graph = _refund_then_ask(calls, in_asking_node=False)
    with serve([Route("refund", graph)], data_dir=str(tmp_path)) as client:
        first = collect(client, "refund", {"input": {"order": "A"}, "thread_id": "t"})
        assert first[-1].data["status"] == "interrupted"
        again = collect(
            client, "refund", {"input": {"order": "B"}, "thread_id": "t", "multitask": "interrupt"}
        )
    discarded = [e.data["args"] for e in again if e.event == "action.discarded"]
    assert discarded == [{"order": "A"}]
    assert "A" not in calls
