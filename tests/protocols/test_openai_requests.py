"""OpenAI request pieces on their own: messages into LangChain's, parameters into run options."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.runnables import RunnableBinding, RunnableLambda
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tokenwire.errors import InvalidRequest
from tokenwire.protocols.openai_messages import chat_messages
from tokenwire.protocols.openai_params import bind_params
from tokenwire.testing import ScriptedChatModel, text_turn


def lc(messages: list[dict[str, Any]]) -> list[Any]:
    return convert_to_messages(chat_messages(messages))


def test_each_role_becomes_its_langchain_message() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    converted = lc(
        [
            {"role": "developer", "content": "rules"},
            {"role": "system", "content": "sys", "name": "boss"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]},
            {"role": "assistant", "content": None, "tool_calls": [call], "refusal": "no"},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "function", "name": "g", "content": None},
        ]
    )
    developer, system, user, assistant, tool, function = converted
    assert isinstance(developer, SystemMessage)
    assert developer.additional_kwargs == {"__openai_role__": "developer"}
    assert isinstance(system, SystemMessage) and system.name == "boss"
    assert isinstance(user, HumanMessage) and user.content == [
        {"type": "image_url", "image_url": {"url": "u"}}
    ]
    assert isinstance(assistant, AIMessage) and assistant.content == ""
    assert assistant.tool_calls == [
        {"name": "f", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    ]
    assert assistant.additional_kwargs["refusal"] == "no"
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c1"
    assert isinstance(function, FunctionMessage) and function.name == "g"


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"role": "user"}, "messages[0].content: required"),
        ({"role": "assistant"}, "messages[0].content: required"),
        ({"role": "tool", "content": "x"}, "messages[0].tool_call_id"),
        ({"role": "function", "content": "x"}, "messages[0].name"),
        ({"role": "system", "content": [{"type": "image_url"}]}, "messages[0].content[0].type"),
        ({"role": "user", "content": [{"text": "no type"}]}, "messages[0].content[0]"),
        ({"role": "critic", "content": "x"}, "messages[0].role"),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]},
            "messages[0].tool_calls[0].function",
        ),
    ],
)
def test_a_message_that_does_not_fit_is_refused_by_name(message: Any, named: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        chat_messages([message])
    assert named in refused.value.detail


def openai_model() -> ChatOpenAI:
    return ChatOpenAI(base_url="http://127.0.0.1:9/v1", api_key=SecretStr("x"), model="m")


def test_an_openai_model_gets_the_parameters_bound_as_sent() -> None:
    model = openai_model()
    binding = bind_params(model, {"temperature": 0.1, "tools": [{"type": "function"}], "n": 1})
    assert binding.unsupported == {}
    assert binding.options is not None and binding.options.budget is None
    bound = binding.options.runnable
    assert isinstance(bound, RunnableBinding) and bound.bound is model
    assert bound.kwargs == {"temperature": 0.1, "tools": [{"type": "function"}]}


def test_max_tokens_is_a_budget_on_any_route_and_the_smaller_wins() -> None:
    binding = bind_params(RunnableLambda(str), {"max_tokens": 9, "max_completion_tokens": 4})
    assert binding.unsupported == {} and binding.options is not None
    assert binding.options.runnable is None
    assert binding.options.budget is not None and binding.options.budget.max_output_tokens == 4


def test_nulls_and_defaults_count_as_not_sent() -> None:
    binding = bind_params(RunnableLambda(str), {"temperature": None, "logprobs": False, "n": 1})
    assert binding.options is None and binding.unsupported == {}


def test_what_a_route_cannot_honour_is_named() -> None:
    chain = bind_params(RunnableLambda(str), {"tools": [], "seed": 1, "top_logprobs": 2})
    assert list(chain.unsupported) == ["top_logprobs", "tools", "seed"]
    scripted = ScriptedChatModel(turns=[text_turn("ok")])
    other = bind_params(scripted, {"stop": ["x"], "top_p": 0.5, "tools": [{"type": "function"}]})
    assert list(other.unsupported) == ["top_p"]  # stop and tools (its bind_tools) are taken
