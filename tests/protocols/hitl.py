"""Graphs that pause: one asks a human to approve a tool call in the shape LangChain's
``HumanInTheLoopMiddleware`` uses (a batched ``HITLRequest``), one asks a plain question."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import interrupt
from typing_extensions import TypedDict

__all__ = ["REQUEST", "approval_graph", "question_graph"]

REQUEST = {
    "action_requests": [
        {"name": "send_email", "args": {"to": "ada"}, "description": "Send the email?"}
    ],
    "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve", "reject"]}],
}


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    outcome: str


def _review(state: State) -> State:
    (decision,) = interrupt(REQUEST)["decisions"]
    outcome = decision["type"] + (f": {decision['message']}" if decision.get("message") else "")
    return {"outcome": outcome, "messages": [AIMessage(outcome)]}


def _ask(state: State) -> State:
    answer = interrupt({"question": "which colour?"})
    return {"outcome": str(answer), "messages": [AIMessage(str(answer))]}


def _graph(node: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("pause", node)
    builder.add_edge(START, "pause")
    builder.add_edge("pause", END)
    return builder.compile()  # no checkpointer: the gateway supplies it


def approval_graph() -> Any:
    return _graph(_review)


def question_graph() -> Any:
    return _graph(_ask)
