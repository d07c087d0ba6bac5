"""Input validation: the runnable's schema is built once, and bad input is still refused."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from tokenwire.errors import InvalidRequest
from tokenwire.runs.inputs import input_from_messages, prepare_input


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
