"""A paused run's deferred calls wait in the ledger, not in memory: the run that resumes
the thread commits them — after a restart too, on another replica, with the arguments the
call was made with (sealed where the route masks tool steps) — exactly once, even with two
settlers racing; a resume that fails discards them, one that pauses again keeps them."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tests.actions.crm import Crm
from tokenwire import Guardrails, Route
from tokenwire.actions import ActionEntry, ActionScope, action, current_key
from tokenwire.actions.ledger import Ledger
from tokenwire.actions.replay import recorded
from tokenwire.actions.settle import settle
from tokenwire.actions.sql_ledger import SqlLedger
from tokenwire.testing import collect, serve

EMAIL = "jane.doe@example.com"
MASKED = Guardrails.from_config({"pii": True, "mask": ["tool_io"]})
RESUME = {"thread_id": "t", "command": {"resume": "yes"}}


class _State(TypedDict, total=False):
    address: str
    sent: Any
    answers: list[Any]


def _email_then_ask(url: str, *, asks: int = 1) -> Any:
    """Drafts an e-mail to the customer (a deferred call), then asks ``asks`` times; an
    answer of ``"no"`` fails the run."""

    @action(commit="after_validation")
    async def email_customer(address: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{url}/tickets",
                json={"address": address},
                headers={"Idempotency-Key": current_key() or ""},
            )
        created: dict[str, Any] = response.json()
        return created

    async def draft(state: _State) -> _State:
        return {"sent": await email_customer(state["address"])}

    def ask(state: _State) -> _State:
        answer = interrupt({"question": "send it?"})
        if answer == "no":
            raise ValueError("the reviewer said no")
        return {"answers": [*state.get("answers", []), answer]}

    builder = StateGraph(_State)
    builder.add_node("draft", draft)
    builder.add_edge(START, "draft")
    previous = "draft"
    for n in range(asks):
        builder.add_node(f"ask{n}", ask)
        builder.add_edge(previous, f"ask{n}")
        previous = f"ask{n}"
    builder.add_edge(previous, END)
    return builder.compile()


def _rows(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM tokenwire_actions")]


def _events(events: list[Any], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == kind]


def test_a_paused_call_commits_after_a_restart_with_its_raw_arguments(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    records, url = crm
    key = Fernet.generate_key().decode()
    routes = [Route("mail", _email_then_ask(url), guardrails=MASKED)]
    with serve(routes, data_dir=str(tmp_path), audit_input_key=key) as client:
        paused = collect(client, "mail", {"input": {"address": EMAIL}, "thread_id": "t"})
    assert paused[-1].data["status"] == "interrupted"
    (row,) = _rows(tmp_path)
    assert row["status"] == "intended" and '"$sealed"' in row["commit_args"]
    assert EMAIL not in str(row)  # nothing in clear, the arguments sealed
    # A new gateway process on the same database and key: all it has is the row.
    with serve(routes, data_dir=str(tmp_path), audit_input_key=key) as client:
        resumed = collect(client, "mail", RESUME)
    assert resumed[-1].data["status"] == "completed", resumed[-1].data
    (committed,) = _events(resumed, "action.committed")
    assert committed["args"] == {"address": "[EMAIL]"}
    assert records.tickets == [{"address": EMAIL, "key": row["key"]}]
    (row,) = _rows(tmp_path)
    assert (row["status"], row["commit_args"]) == ("succeeded", None)
    assert EMAIL not in str(row)


def test_without_a_shared_key_a_restarted_gateway_cannot_commit_them(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    """Sealed with a key the first process never wrote down: the call fails, named, and
    nothing reaches the system of record (rather than the masked address)."""
    records, url = crm
    routes = [Route("mail", _email_then_ask(url), guardrails=MASKED)]
    with serve(routes, data_dir=str(tmp_path)) as client:
        collect(client, "mail", {"input": {"address": EMAIL}, "thread_id": "t"})
    with serve(routes, data_dir=str(tmp_path)) as client:
        resumed = collect(client, "mail", RESUME)
    assert resumed[-1].data["status"] == "completed"
    (failed,) = _events(resumed, "action.failed")
    assert "audit_input_key" in failed["error"]
    assert records.tickets == []
    assert [row["status"] for row in _rows(tmp_path)] == ["failed"]


def test_a_resume_that_fails_discards_the_paused_calls(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    records, url = crm
    with serve([Route("mail", _email_then_ask(url))], data_dir=str(tmp_path)) as client:
        collect(client, "mail", {"input": {"address": EMAIL}, "thread_id": "t"})
        refused = collect(client, "mail", {"thread_id": "t", "command": {"resume": "no"}})
    assert refused[-1].data["status"] == "failed"
    assert [d["args"] for d in _events(refused, "action.discarded")] == [{"address": EMAIL}]
    assert records.tickets == []
    assert [(r["status"], r["commit_args"]) for r in _rows(tmp_path)] == [("discarded", None)]


def test_a_resume_that_pauses_again_keeps_them_for_the_next_resume(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    records, url = crm
    route = Route("mail", _email_then_ask(url, asks=2))
    with serve([route], data_dir=str(tmp_path)) as client:
        collect(client, "mail", {"input": {"address": EMAIL}, "thread_id": "t"})
        again = collect(client, "mail", RESUME)
        assert again[-1].data["status"] == "interrupted"
        assert not [e for e in again if e.event.startswith("action.")]
        done = collect(client, "mail", RESUME)
    assert done[-1].data["status"] == "completed"
    assert len(_events(done, "action.committed")) == 1
    assert [t["address"] for t in records.tickets] == [EMAIL]


# The settling itself, on the ledger two replicas share (SQLite, one file).


async def _left_intended(ledger: Ledger, key: str, name: str, args: dict[str, Any]) -> None:
    """What a run that paused on thread ``t`` leaves: the call ``intended``."""
    assert await ledger.begin(ActionEntry(key, name, args, "paused-run", "t")) is None
    await ledger.finish(key, "intended", commit_args=recorded(args))


async def _over(run_id: str) -> bool:
    return False  # every other run is over


def _resuming(ledger: Ledger, run_id: str) -> tuple[ActionScope, list[tuple[str, Any]]]:
    reported: list[tuple[str, Any]] = []
    scope = ActionScope(
        "thread:t",
        run_id,
        ledger,
        asyncio.get_running_loop(),
        "t",
        alive=_over,
        resumes=True,
    )
    scope.report = lambda kind, data: reported.append((kind, data))
    return scope, reported


async def _settled(scope: ActionScope) -> None:
    assert scope.report is not None
    await settle(scope, "completed", scope.report)


async def test_two_settlers_racing_for_a_paused_call_execute_it_once(tmp_path: Path) -> None:
    executed: list[str] = []

    @action(commit="after_validation", name="race_refund")
    async def refund(order: str) -> str:
        executed.append(order)
        await asyncio.sleep(0)  # let the other settler try meanwhile
        return f"refunded {order}"

    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    replicas = [SqlLedger.at(url), SqlLedger.at(url)]
    try:
        for ledger in replicas:
            await ledger.setup()
        await _left_intended(replicas[0], "k1", "race_refund", {"order": "A"})
        settlers = [_resuming(ledger, f"resume-{n}") for n, ledger in enumerate(replicas)]
        await asyncio.gather(*(_settled(scope) for scope, _ in settlers))
        entry = await replicas[0].get("k1")
    finally:
        for ledger in replicas:
            await ledger.aclose()
    assert executed == ["A"]
    reports = [kind for _, reported in settlers for kind, _ in reported]
    assert reports == ["action.committed"]
    assert entry is not None and entry.status == "succeeded"
    assert entry.result == "refunded A" and entry.commit_args is None


async def test_a_carried_sync_call_runs_in_a_worker_thread_with_its_key() -> None:
    import threading

    from tokenwire.actions import MemoryLedger

    seen: list[tuple[str | None, bool]] = []

    @action(commit="after_validation", name="sync_refund")
    def refund(order: str, note: str = "") -> str:
        seen.append((current_key(), threading.current_thread() is threading.main_thread()))
        return f"{order}{note}"

    ledger = MemoryLedger()
    await _left_intended(ledger, "k-sync", "sync_refund", {"order": "A", "note": "!"})
    scope, reported = _resuming(ledger, "resume")
    await _settled(scope)
    assert seen == [("k-sync", False)]
    assert [(kind, data["result"]) for kind, data in reported] == [("action.committed", "A!")]


async def test_a_carried_call_this_process_cannot_run_fails_with_the_reason() -> None:
    from tokenwire.actions import MemoryLedger

    @action(commit="after_validation", name="needs_config")
    async def needs_config(order: str, config: RunnableConfig) -> str:
        return order

    ledger = MemoryLedger()
    await _left_intended(ledger, "k-unknown", "nowhere_defined", {"order": "A"})
    await _left_intended(ledger, "k-config", "needs_config", {"order": "B"})
    scope, reported = _resuming(ledger, "resume")
    await _settled(scope)
    errors = {data["key"]: data["error"] for kind, data in reported if kind == "action.failed"}
    assert "no @action named 'nowhere_defined'" in errors["k-unknown"]
    assert "'config'" in errors["k-config"]
    statuses = {key: entry.status for key, entry in ledger.entries_by_key.items()}
    assert statuses == {"k-unknown": "failed", "k-config": "failed"}


async def test_a_new_turn_discards_what_the_pause_left_and_a_live_runs_calls_stay() -> None:
    from tokenwire.actions import MemoryLedger

    ledger = MemoryLedger()
    await _left_intended(ledger, "k-paused", "sync_refund", {"order": "A"})
    live = ActionEntry("k-live", "sync_refund", {"order": "B"}, "live-run", "t")
    assert await ledger.begin(live) is None
    await ledger.finish("k-live", "intended", commit_args={"order": "B"})

    async def alive(run_id: str) -> bool:
        return run_id == "live-run"

    scope, reported = _resuming(ledger, "new-turn")
    scope.resumes, scope.alive = False, alive
    await _settled(scope)
    await asyncio.gather(*scope.writes)
    assert [(kind, data["key"]) for kind, data in reported] == [("action.discarded", "k-paused")]
    statuses = {key: entry.status for key, entry in ledger.entries_by_key.items()}
    assert statuses == {"k-paused": "discarded", "k-live": "intended"}
