"""A LangGraph route over a real gateway: partial state is accepted, bad types refused."""

from __future__ import annotations

import sys
import typing
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from tokenwire.routes import Route


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
