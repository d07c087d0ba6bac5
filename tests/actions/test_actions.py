"""``@action`` against a counting system of record (a real HTTP server on 127.0.0.1):
work redone — a LangGraph node resumed after ``interrupt()``, a request retried with its
``Idempotency-Key`` after its run was forgotten — creates exactly one ticket."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tests.actions.crm import Crm
from tokenwire import Route
from tokenwire.actions import action, current_key
from tokenwire.testing import collect, poll_until, serve


def _ticket_graph(url: str) -> Any:
    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            headers = {"Idempotency-Key": current_key() or ""}
            response = await client.post(f"{url}/tickets", json={"title": title}, headers=headers)
        created: dict[str, Any] = response.json()
        return created

    class State(TypedDict, total=False):
        title: str
        ticket: Any
        approved: Any

    async def file(state: State) -> State:
        ticket = await create_ticket(state["title"])  # before the pause: redone on resume
        return {"ticket": ticket, "approved": interrupt({"ticket": ticket})}

    builder = StateGraph(State)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    builder.add_edge("file", END)
    return builder.compile()


def test_a_node_resumed_after_interrupt_creates_one_ticket(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    with serve([Route("file", _ticket_graph(url))], data_dir=str(tmp_path)) as client:
        body = {"input": {"title": "refund"}, "thread_id": "t"}
        assert collect(client, "file", body)[-1].data["status"] == "interrupted"
        resumed = collect(client, "file", {"thread_id": "t", "command": {"resume": True}})
        end = resumed[-1].data
        assert end["status"] == "completed"
        assert end["output"]["ticket"] == {"id": 1}  # the recorded result, replayed
        listed = client.get("/v1/actions", params={"thread_id": "t"}).json()["actions"]
        series = 'tokenwire_actions_total{action="create_ticket",route="file",status="%s"} 1.0'
        poll_until(
            lambda: all(
                series % o in client.get("/metrics").text for o in ("succeeded", "replayed")
            ),
            timeout=30,
        )
    assert len(records.tickets) == 1
    assert records.tickets[0]["key"]  # the key was handed on to the system of record
    (entry,) = listed  # one action, executed once, replayed on resume
    assert (entry["action"], entry["status"], entry["result"]) == (
        "create_ticket",
        "succeeded",
        {"id": 1},
    )
    assert entry["key"] == records.tickets[0]["key"] and entry["args"] == {"title": "refund"}


def _sync_ticket_chain(url: str) -> Any:
    from langchain_core.runnables import RunnableLambda

    @action(name="create_ticket")
    def create_ticket(title: str) -> dict[str, Any]:
        created: dict[str, Any] = httpx.post(f"{url}/tickets", json={"title": title}).json()
        return created

    return RunnableLambda(lambda payload: create_ticket(payload["title"]))


def test_a_retried_request_whose_run_was_forgotten_creates_one_ticket(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    routes = [Route("file", _sync_ticket_chain(url), mode="events")]
    with serve(
        routes, data_dir=str(tmp_path), retention_seconds=0, sweep_interval_seconds=0.05
    ) as client:
        headers = {"Idempotency-Key": "order-42"}
        body = {"input": {"title": "refund"}}
        first = client.post("/v1/routes/file/runs", json=body, headers=headers).json()
        poll_until(lambda: client.get(f"/v1/runs/{first['run_id']}").status_code == 404, timeout=30)
        again = client.post("/v1/routes/file/runs", json=body, headers=headers)
        assert again.status_code == 202 and again.json()["run_id"] != first["run_id"]
        poll_until(
            lambda: (
                client.get(f"/v1/runs/{again.json()['run_id']}").json()["status"] == "completed"
            ),
            timeout=30,
        )
    assert len(records.tickets) == 1


def _one_node_graph(url: str) -> Any:
    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/tickets", json={"title": title})
        created: dict[str, Any] = response.json()
        return created

    class State(TypedDict, total=False):
        title: str
        ticket: Any

    async def file(state: State) -> State:
        return {"ticket": await create_ticket(state["title"])}

    builder = StateGraph(State)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    builder.add_edge("file", END)
    return builder.compile()


def test_a_graph_retried_with_its_idempotency_key_creates_one_ticket(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    """Without a thread the graph runs anew, its node a task with a new id: the key of
    the call must not depend on it."""
    records, url = crm
    routes = [Route("file", _one_node_graph(url))]
    with serve(
        routes, data_dir=str(tmp_path), retention_seconds=0, sweep_interval_seconds=0.05
    ) as client:
        for _ in range(2):  # the second after the first run was forgotten
            started = client.post(
                "/v1/routes/file/runs",
                json={"input": {"title": "refund"}},
                headers={"Idempotency-Key": "order-43"},
            )
            assert started.status_code == 202
            run = f"/v1/runs/{started.json()['run_id']}"

            def forgotten(run: str = run) -> bool:
                return client.get(run).status_code == 404

            poll_until(forgotten, timeout=30)
    assert len(records.tickets) == 1


async def test_outside_a_run_the_action_just_runs() -> None:
    calls: list[int] = []

    @action
    async def bump(n: int) -> int:
        calls.append(n)
        return n

    assert [await bump(1), await bump(1)] == [1, 1]
    assert calls == [1, 1]


def test_the_ledger_keeps_arguments_masked_on_a_masked_route(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    from tokenwire import Guardrails

    _, url = crm
    rails = Guardrails.from_config({"pii": True, "mask": ["tool_io"]})
    route = Route("file", _ticket_graph(url), guardrails=rails)
    with serve([route], data_dir=str(tmp_path)) as client:
        body = {"input": {"title": "call jane.doe@example.com"}, "thread_id": "t"}
        collect(client, "file", body)
        listed = client.get("/v1/actions").text
    assert "jane.doe@example.com" not in listed and "call " in listed


def test_a_tool_redone_on_resume_says_its_action_was_replayed(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool
    from langgraph.graph import MessagesState
    from langgraph.prebuilt import ToolNode

    records, url = crm

    @action
    def create(title: str) -> dict[str, Any]:
        created: dict[str, Any] = httpx.post(f"{url}/tickets", json={"title": title}).json()
        return created

    @tool
    def file_ticket(title: str) -> str:
        """File a ticket, then ask a human to confirm it."""
        ticket = create(title)
        confirmed = interrupt({"ticket": ticket})
        return f"ticket {ticket['id']} confirmed: {confirmed}"

    def ask(state: MessagesState) -> dict[str, Any]:
        call = {"name": "file_ticket", "args": {"title": "refund"}, "id": "call-1"}
        return {"messages": [AIMessage("", tool_calls=[call])]}

    builder = StateGraph(MessagesState)
    builder.add_node("ask", ask)
    builder.add_node("tools", ToolNode([file_ticket]))
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "tools")
    builder.add_edge("tools", END)
    with serve([Route("file", builder.compile())], data_dir=str(tmp_path)) as client:
        body = {"input": {"messages": [{"role": "user", "content": "hi"}]}, "thread_id": "t"}
        assert collect(client, "file", body)[-1].data["status"] == "interrupted"
        resumed = collect(client, "file", {"thread_id": "t", "command": {"resume": "yes"}})
    (end,) = [e.data for e in resumed if e.event == "tool.end"]
    assert end["replayed"] is True and "ticket 1 confirmed: yes" in str(end["output"])
    assert len(records.tickets) == 1


def test_a_tool_subclass_it_cannot_wrap_is_refused() -> None:
    from langchain_core.tools import BaseTool

    class Refund(BaseTool):
        name: str = "refund"
        description: str = "Refund an order."

        def _run(self, order: str) -> str:
            return order

    with pytest.raises(TypeError, match="defines _run"):
        action(Refund())
