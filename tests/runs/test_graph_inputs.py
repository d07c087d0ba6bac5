"""A LangGraph route over a real gateway: partial state is accepted, bad types refused."""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from langchain_core.messages import AnyMessage
from langgraph.graph import StateGraph
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from tokenwire.routes import Route
from tokenwire.testing import ScriptedChatModel, text_turn


class State(TypedDict):
    question: str
    answer: str


class LegacyState(typing.TypedDict):  # pydantic refuses typing.TypedDict before 3.12
    question: str
    answer: str


def _graph(state: Any) -> Any:
    graph = StateGraph(state)
    graph.add_node("answer", lambda s: {"answer": "42"})
    graph.set_entry_point("answer")
    return graph.compile()


def _start(client: httpx.Client, body: Any) -> httpx.Response:
    return client.post("/v1/routes/graph/runs", json={"input": body})


def test_partial_state_is_accepted(serve: Callable[..., httpx.Client]) -> None:
    client = serve([Route("graph", _graph(State))])
    assert _start(client, {"question": "hi"}).status_code == 202
    refused = _start(client, {"question": 5})
    assert refused.status_code in (400, 422)
    assert "question" in refused.text


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic builds it on 3.12+")
def test_unbuildable_schema_is_a_warning_not_a_500(
    serve: Callable[..., httpx.Client], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="tokenwire"):
        client = serve([Route("graph", _graph(LegacyState))])
    assert any("'graph'" in r.getMessage() for r in caplog.records)
    assert _start(client, {"question": "hi"}).status_code == 202


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic builds it on 3.12+")
def test_unbuildable_schema_is_an_open_schema_over_langserve(
    serve: Callable[..., httpx.Client],
) -> None:
    client = serve([Route("graph", _graph(LegacyState))])
    answer = client.get("/langserve/graph/input_schema")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {}  # any value: the runs take it unvalidated
    for kind in ("output", "config"):
        assert client.get(f"/langserve/graph/{kind}_schema").status_code == 200


class LegacyChatState(typing.TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _chat_graph() -> Any:
    model = ScriptedChatModel(turns=[text_turn("hello", " there")])

    async def reply(state: LegacyChatState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    graph = StateGraph(LegacyChatState)
    graph.add_node("reply", reply)
    graph.set_entry_point("reply")
    return graph.compile()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic builds it on 3.12+")
def test_openai_drives_a_messages_state_whose_schema_cannot_be_built(
    serve: Callable[..., httpx.Client],
) -> None:
    client = serve([Route("chat", _chat_graph()), Route("graph", _graph(LegacyState))])
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
    answered = client.post("/v1/chat/completions", json=body)
    assert answered.status_code == 200, answered.text
    assert answered.json()["choices"][0]["message"]["content"] == "hello there"
    refused = client.post("/v1/chat/completions", json={**body, "model": "graph"})
    assert refused.status_code == 400 and "no 'messages'" in refused.text
