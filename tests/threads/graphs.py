"""The graphs the thread tests serve: ``ask`` pauses at ``interrupt()``, ``shout`` answers."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    question: str
    answer: str


def _ask(state: State) -> State:
    return {"answer": str(interrupt({"question": state["question"]}))}


def _shout(state: State) -> State:
    return {"answer": state["answer"].upper()}


def question_graph() -> Any:
    """Compiled without a checkpointer: the gateway (or the test) supplies one."""
    builder = StateGraph(State)
    builder.add_node("ask", _ask)
    builder.add_node("shout", _shout)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", "shout")
    builder.add_edge("shout", END)
    return builder.compile()
