"""No PII in clear in the action ledger: on a route masking tool steps, a row's arguments,
result and error are masked; the raw result is kept only sealed (``audit_input_key``), so a
replay — after a restart too — still hands the agent what the system of record returned."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tests.actions.crm import Crm
from tokenwire import Guardrails, Route
from tokenwire.actions import action
from tokenwire.testing import collect, serve

EMAIL = "jane.doe@example.com"
MASKED = Guardrails.from_config({"pii": True, "mask": ["tool_io"]})


def _contact_graph(url: str) -> Any:
    @action
    async def open_ticket(customer: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created = (await client.post(f"{url}/tickets", json={"customer": customer})).json()
        return {**created, "contact": EMAIL}  # the CRM's answer carries an e-mail address

    class State(TypedDict, total=False):
        customer: str
        ticket: Any
        approved: Any

    async def file(state: State) -> State:
        ticket = await open_ticket(state["customer"])
        return {"ticket": ticket, "approved": interrupt({"id": ticket["id"]})}

    builder = StateGraph(State)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    builder.add_edge("file", END)
    return builder.compile()


def _rows(data_dir: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(data_dir / "audit.db") as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM tokenwire_actions")]


def test_a_result_is_masked_in_the_ledger_and_replayed_raw_after_a_restart(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    records, url = crm
    key = Fernet.generate_key().decode()
    routes = [Route("file", _contact_graph(url), guardrails=MASKED)]
    body = {"input": {"customer": "acme"}, "thread_id": "t"}
    with serve(routes, data_dir=str(tmp_path), audit_input_key=key) as client:
        assert collect(client, "file", body)[-1].data["status"] == "interrupted"
    (row,) = _rows(tmp_path)
    assert EMAIL not in str(row) and "[EMAIL]" in row["result"] and row["sealed"]
    # Another gateway process on the same database and key: all it has is the row.
    with serve(routes, data_dir=str(tmp_path), audit_input_key=key) as client:
        resumed = collect(client, "file", {"thread_id": "t", "command": {"resume": True}})
        listed = client.get("/v1/actions").json()["actions"]
    end = resumed[-1].data
    assert end["status"] == "completed", end
    assert end["output"]["ticket"] == {"id": 1, "contact": EMAIL}  # the real result
    assert len(records.tickets) == 1
    (shown,) = listed
    assert shown["result"] == {"id": 1, "contact": "[EMAIL]"} and "sealed" not in shown
    assert EMAIL not in str(_rows(tmp_path))


def test_without_a_key_a_replay_is_raw_in_the_process_and_masked_after_a_restart(
    crm: tuple[Crm, str], tmp_path: Path
) -> None:
    """Sealed with a key the process never wrote down: nothing is kept in clear, so after
    a restart the masked result is all there is to replay."""
    records, url = crm
    routes = [Route("file", _contact_graph(url), guardrails=MASKED)]
    resume = {"command": {"resume": True}}
    with serve(routes, data_dir=str(tmp_path)) as client:
        for thread in ("t1", "t2"):
            collect(client, "file", {"input": {"customer": "acme"}, "thread_id": thread})
        in_process = collect(client, "file", {"thread_id": "t1", **resume})
    with serve(routes, data_dir=str(tmp_path)) as client:
        restarted = collect(client, "file", {"thread_id": "t2", **resume})
    assert in_process[-1].data["output"]["ticket"] == {"id": 1, "contact": EMAIL}
    assert restarted[-1].data["output"]["ticket"] == {"id": 2, "contact": "[EMAIL]"}
    rows = _rows(tmp_path)
    assert len(rows) == 2 and all(row["sealed"] for row in rows)
    assert EMAIL not in str(rows)
    assert len(records.tickets) == 2


def test_a_failed_calls_error_is_masked_in_the_ledger(tmp_path: Path) -> None:
    @action
    async def refund(order: str) -> str:
        raise LookupError(f"no order {order} for {EMAIL}")

    async def answer(payload: dict[str, Any]) -> str:
        return await refund(payload["order"])

    route = Route("refund", RunnableLambda(answer), guardrails=MASKED)
    with serve([route], data_dir=str(tmp_path)) as client:
        assert collect(client, "refund", {"input": {"order": "A"}})[-1].data["status"] == "failed"
    (row,) = _rows(tmp_path)
    assert row["status"] == "failed" and EMAIL not in str(row)
    assert row["error"] == "LookupError: no order A for [EMAIL]"


async def test_an_object_result_is_masked_as_text_and_replayed_as_itself() -> None:
    """A result kept in LangGraph's serialization (base64) is masked from what it says,
    not passed through unread; the replay is the object again."""
    import asyncio

    from langchain_core.documents import Document

    from tokenwire.actions import ActionScope, MemoryLedger, action_scope
    from tokenwire.actions.protection import ProtectedLedger, gateway_seal
    from tokenwire.pipeline.masking import Masking
    from tokenwire.pipeline.pii import PiiGuard

    calls: list[str] = []

    @action
    async def look_up(name: str) -> Document:
        calls.append(name)
        return Document(page_content=f"reach {name} at {EMAIL}")

    masking = Masking(PiiGuard(), frozenset({"tool_io"}))
    ledger = MemoryLedger()
    view = ProtectedLedger(ledger, masking.value, gateway_seal(), shared=False)
    results = []
    for run_id in ("first", "redone"):
        loop = asyncio.get_running_loop()
        with action_scope(ActionScope("thread:t", run_id, view, loop, "t", masking.value)):
            results.append(await look_up("jane"))
    assert calls == ["jane"] and results[0] == results[1]
    assert isinstance(results[1], Document)
    (entry,) = await ledger.entries()
    assert EMAIL not in str(entry) and "$object" not in str(entry.result)
    assert "[EMAIL]" in str(entry.result)
