"""``input_from_messages``: which input a chat-style request becomes, per input schema."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from tokenwire.demo.routes import demo_routes
from tokenwire.errors import InvalidRequest
from tokenwire.runs.inputs import input_from_messages

CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "first"},
    {"role": "assistant", "content": "answer"},
    {
        "role": "user",
        "content": [{"type": "text", "text": "last "}, {"type": "text", "text": "one"}],
    },
]


def test_each_demo_route_gets_the_shape_it_declares() -> None:
    routes = {r.name: r.runnable for r in demo_routes("http://127.0.0.1:9/v1")}
    assert input_from_messages(routes["chat"], CONVERSATION) == CONVERSATION
    assert input_from_messages(routes["agent"], CONVERSATION) == {"messages": CONVERSATION}
    assert input_from_messages(routes["rag"], CONVERSATION) == "last one"


def test_a_single_required_string_field_gets_the_last_user_text() -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    assert input_from_messages(prompt, CONVERSATION) == {"question": "last one"}


def test_other_shapes_are_refused_with_a_reason() -> None:
    two_fields = ChatPromptTemplate.from_messages([("user", "{a} {b}")])
    numbers = RunnableLambda(lambda x: x).with_types(input_type=int)
    for runnable in (two_fields, numbers):
        with pytest.raises(InvalidRequest, match="not chat-shaped"):
            input_from_messages(runnable, CONVERSATION)
    with pytest.raises(InvalidRequest, match="no user message"):
        input_from_messages(ChatPromptTemplate.from_messages([("user", "{q}")]), CONVERSATION[:1])
