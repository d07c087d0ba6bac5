"""What a LangGraph graph wrote and where it stopped reach the sink (``update``, ``state``):
what the LangGraph server API's ``updates`` and ``values`` modes are made of."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import AdapterOptions, stream_runnable


class State(TypedDict, total=False):
    question: str
    answer: str
    checked: bool


def answer(state: State) -> State:
    return {"answer": state["question"].upper()}


def check(state: State) -> State:
    return {"checked": True}


def _graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("answer", answer)
    builder.add_node("check", check)
    builder.add_edge(START, "answer")
    builder.add_edge("answer", "check")
    return builder.compile()


async def test_each_node_write_and_the_final_state() -> None:
    sink = RecordingSink()
    await stream_runnable(_graph(), {"question": "hi"}, None, sink)
    assert sink.updates == [("answer", {"answer": "HI"}), ("check", {"checked": True})]
    assert sink.states == [{"question": "hi", "answer": "HI", "checked": True}]


async def test_step_values_the_state_after_every_step_once() -> None:
    """Asked for, the graph's own ``values`` stream: the input's state, then each step's;
    the final state is that of the last step, not reported again."""
    sink = RecordingSink()
    options = AdapterOptions(step_values=True)
    await stream_runnable(_graph(), {"question": "hi"}, None, sink, options)
    assert sink.states == [
        {"question": "hi"},
        {"question": "hi", "answer": "HI"},
        {"question": "hi", "answer": "HI", "checked": True},
    ]


async def test_a_failing_graph_reports_no_final_state() -> None:
    def boom(state: State) -> State:
        raise RuntimeError("boom")

    builder = StateGraph(State)
    builder.add_node("boom", boom)
    builder.add_edge(START, "boom")
    sink = RecordingSink()
    with pytest.raises(RuntimeError, match="boom"):
        await stream_runnable(builder.compile(), {"question": "hi"}, None, sink)
    assert getattr(sink, "states", []) == []
