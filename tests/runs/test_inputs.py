"""Input validation: the runnable's schema is built once, and bad input is still refused."""

from __future__ import annotations

import sys
import typing
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langgraph.graph import StateGraph
from typing_extensions import TypedDict

from tokenwire.errors import InvalidRequest
from tokenwire.runs.inputs import input_from_messages, prepare_input, unbuildable_input_schema


class CountingPrompt(ChatPromptTemplate):
    calls: int = 0

    def get_input_schema(self, config: Any = None) -> Any:
        type(self).calls += 1
        return super().get_input_schema(config)


def test_the_schema_is_built_once_per_runnable() -> None:
    prompt = CountingPrompt.from_messages([("user", "{question}")])
    CountingPrompt.calls = 0
    for _ in range(5):
        assert prepare_input(prompt, {"question": "why?"}) == {"question": "why?"}
        with pytest.raises(InvalidRequest, match="question"):
            prepare_input(prompt, {"wrong": "key"})
    assert CountingPrompt.calls == 1


def test_each_runnable_keeps_its_own_schema() -> None:
    text = RunnableLambda(lambda x: x).with_types(input_type=str)
    mapping = ChatPromptTemplate.from_messages([("user", "{question}")])
    for _ in range(2):
        assert prepare_input(text, "hi") == "hi"
        with pytest.raises(InvalidRequest):
            prepare_input(text, {"question": 1})
        assert prepare_input(mapping, {"question": "q"}) == {"question": "q"}
        with pytest.raises(InvalidRequest):
            prepare_input(mapping, "hi")


def test_chat_shapes_are_decided_from_the_cached_schema() -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    messages = [{"role": "user", "content": "hello"}]
    for _ in range(2):
        assert input_from_messages(prompt, messages) == {"question": "hello"}


class State(TypedDict):
    question: str
    answer: str


def _graph(state: Any) -> Any:
    graph = StateGraph(state)
    graph.add_node("answer", lambda s: {"answer": "42"})
    graph.set_entry_point("answer")
    return graph.compile()


def test_a_graph_takes_partial_state_as_graph_invoke_does() -> None:
    graph = _graph(State)
    assert graph.invoke({"question": "hi"})["answer"] == "42"  # what LangGraph accepts
    assert prepare_input(graph, {"question": "hi"}) == {"question": "hi"}
    assert prepare_input(graph, {}) == {}
    with pytest.raises(InvalidRequest, match=r"input\.question"):
        prepare_input(graph, {"question": 5})


def test_a_prompt_still_requires_its_variables() -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    with pytest.raises(InvalidRequest, match="question"):
        prepare_input(prompt, {})


class LegacyState(typing.TypedDict):  # pydantic refuses typing.TypedDict before 3.12
    question: str


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic builds it on 3.12+")
def test_an_unbuildable_schema_leaves_input_unvalidated() -> None:
    graph = _graph(LegacyState)
    assert unbuildable_input_schema(graph) is not None
    assert prepare_input(graph, {"question": "hi"}) == {"question": "hi"}
