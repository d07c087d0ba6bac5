"""A fallback that restarts the answer after the primary's tool already ran: the fallback
redoes the same work, and its call of the action replays the primary's — one ticket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda
from langchain_openai import ChatOpenAI
from langgraph.graph import START, StateGraph
from pydantic import SecretStr
from typing_extensions import TypedDict

from tests.actions.crm import Crm
from tokenwire import Route
from tokenwire.actions import action
from tokenwire.reliability import Fallback
from tokenwire.testing import collect, serve


def test_a_restarting_fallback_after_the_tool_ran_creates_one_ticket(
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

    async def primary(payload: dict[str, Any]) -> AsyncIterator[str]:
        ticket = await create_ticket(payload["title"])
        yield f"Filed ticket {ticket['id']}, "
        raise httpx.RemoteProtocolError("the provider dropped the stream")  # mid-stream

    async def backup(payload: dict[str, Any]) -> AsyncIterator[str]:
        ticket = await create_ticket(payload["title"])  # the same work, redone
        yield f"ticket {ticket['id']} is filed."

    route = Route(
        "file",
        RunnableLambda(primary),
        fallbacks=[Fallback(RunnableLambda(backup), name="backup")],
        mid_stream="restart",
        mode="events",
    )
    with serve([route], data_dir=str(tmp_path)) as client:
        events = collect(client, "file", {"input": {"title": "refund"}})
        listed = client.get("/v1/actions").json()["actions"]
    end = events[-1].data
    assert end["status"] == "completed" and end["fallback_used"] == "backup", end
    assert [e.event for e in events].count("run.restart") == 1
    assert end["output"] == "ticket 1 is filed."  # the fallback got the recorded ticket
    assert len(records.tickets) == 1
    (entry,) = listed
    assert (entry["status"], entry["result"]) == ("succeeded", {"id": 1})


def _filing_graph(url: str, model: ChatOpenAI) -> Any:
    """A node that files a ticket, then has ``model`` word the answer."""

    @action
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(f"{url}/tickets", json={"title": title})
            ).json()
        return created

    class State(TypedDict, total=False):
        title: str
        answer: str

    async def file(state: State) -> State:
        ticket = await create_ticket(state["title"])
        reply = await model.ainvoke(f"say ticket {ticket['id']} is filed")
        return {"answer": str(reply.content)}

    builder = StateGraph(State)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    return builder.compile()


def test_a_thread_route_fallback_carries_on_from_the_checkpoint_one_ticket(
    crm: tuple[Crm, str], mock_url: str, tmp_path: Path
) -> None:
    """On a thread the primary checkpointed its input before the node failed: the
    fallback graph carries on from that checkpoint, so the node re-runs as the same task
    and its action replays (sending the input again made a new task: a second ticket)."""
    records, url = crm

    def model(name: str) -> ChatOpenAI:
        return ChatOpenAI(base_url=f"{mock_url}/v1", api_key=SecretStr("mock"), model=name)

    route = Route(
        "file",
        _filing_graph(url, model("mock@tokens=12,fault=drop:4")),
        fallbacks=[Fallback(_filing_graph(url, model("mock@tokens=6")), name="backup")],
        mid_stream="restart",
    )
    with serve([route], data_dir=str(tmp_path)) as client:
        body = {"input": {"title": "refund"}, "thread_id": "t"}
        events = collect(client, "file", body)
        state = client.get("/v1/threads/t").json()
    end = events[-1].data
    assert end["status"] == "completed" and end["fallback_used"] == "backup", events
    assert [e.event for e in events].count("run.restart") == 1
    assert len(records.tickets) == 1
    assert state["values"]["title"] == "refund", state
