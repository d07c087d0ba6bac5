"""A replayed action returns the value it first returned, not a JSON copy of it: a tuple
stays a tuple (``content_and_artifact`` tools need one), a LangGraph ``Command`` a
``Command``, a message a message — and plain JSON stays readable in the ledger."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from typing_extensions import TypedDict

from tokenwire import Route
from tokenwire.actions import ActionScope, MemoryLedger, action, action_scope
from tokenwire.testing import collect, serve

VALUES: list[Any] = [
    ("summary", {"rows": [1, 2]}),
    Command(update={"messages": [ToolMessage("done", tool_call_id="c1")]}),
    Document(page_content="the policy", metadata={"source": "kb"}),
    {"$tuple": "a key that looks like a tag", "plain": (1, "x")},
    {"id": 7, "tags": ["a", "b"]},
]


async def test_each_value_replays_as_it_was_returned() -> None:
    ledger = MemoryLedger()
    executions: list[int] = []

    @action
    async def produce(index: int) -> Any:
        executions.append(index)
        return VALUES[index]

    scope = ActionScope("thread:t", "run-1", ledger, asyncio.get_running_loop(), "t")
    with action_scope(scope):
        first = [await produce(i) for i in range(len(VALUES))]
        scope.new_attempt()  # the same work redone: every call replays
        again = [await produce(i) for i in range(len(VALUES))]
    assert executions == list(range(len(VALUES)))
    assert first == VALUES  # the first calls return what the function returned
    assert [type(v) for v in again] == [type(v) for v in VALUES]
    command = again.pop(1)
    assert command.update == VALUES[1].update and not command.goto  # goto () comes back []
    assert again == VALUES[:1] + VALUES[2:]
    plain = [e for e in await ledger.entries() if e.args == {"index": 4}]
    assert plain[0].result == {"id": 7, "tags": ["a", "b"]}  # JSON stays as it was


class _State(TypedDict, total=False):
    artifact: Any
    ok: Any


def test_a_content_and_artifact_tool_replays_on_resume(tmp_path: Any) -> None:
    calls: list[str] = []

    @tool(response_format="content_and_artifact")
    @action(name="lookup")
    async def lookup(query: str) -> tuple[str, dict[str, Any]]:
        """Look a customer up."""
        calls.append(query)
        return f"found {query}", {"customer": query}

    async def find(state: _State) -> _State:
        call = {"name": "lookup", "args": {"query": "ada"}, "id": "c1", "type": "tool_call"}
        message = await lookup.ainvoke(call)  # refuses anything but a 2-tuple
        return {"artifact": message.artifact, "ok": interrupt("go on?")}

    builder = StateGraph(_State)
    builder.add_node("find", find)
    builder.add_edge(START, "find")
    builder.add_edge("find", END)
    with serve([Route("find", builder.compile())], data_dir=str(tmp_path)) as client:
        paused = collect(client, "find", {"input": {}, "thread_id": "t"})
        assert paused[-1].data["status"] == "interrupted"
        resumed = collect(client, "find", {"thread_id": "t", "command": {"resume": True}})
    end = resumed[-1].data
    assert end["status"] == "completed", end
    assert end["output"]["artifact"] == {"customer": "ada"} and calls == ["ada"]
