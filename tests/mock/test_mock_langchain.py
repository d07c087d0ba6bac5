"""The real ``langchain_openai.ChatOpenAI`` and a LangGraph agent against the mock."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tokenwire.mock import MockProfile, prompt_tokens, reply_text

PROMPT = [SystemMessage("Be brief."), HumanMessage("tell me   about streaming")]
OPENAI_PROMPT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "tell me   about streaming"},
]


async def collect(llm: Any, prompt: Any) -> AIMessageChunk:
    message: AIMessageChunk | None = None
    async for chunk in llm.astream(prompt):
        message = chunk if message is None else message + chunk
    assert message is not None
    return message


async def test_astream_gives_the_text_and_usage(chat_model: Callable[..., ChatOpenAI]) -> None:
    message = await collect(chat_model(stream_usage=True), PROMPT)
    expected = reply_text(OPENAI_PROMPT)
    assert message.content == expected
    assert message.response_metadata["finish_reason"] == "stop"
    usage = message.usage_metadata
    assert usage is not None
    completion = len(expected.split())
    prompt = prompt_tokens(OPENAI_PROMPT)
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (
        prompt,
        completion,
        prompt + completion,
    )


async def test_ainvoke_matches_astream(chat_model: Callable[..., ChatOpenAI]) -> None:
    message = await chat_model().ainvoke(PROMPT)
    assert message.content == reply_text(OPENAI_PROMPT)
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == len(reply_text(OPENAI_PROMPT).split())


async def test_settings_in_the_model_name_pass_through_chat_openai(
    chat_model: Callable[..., ChatOpenAI],
) -> None:
    name = "mock-lc@tokens=25,itl=1,jitter=1,reasoning=1"
    llm = chat_model(name, stream_usage=True)
    message = await collect(llm, PROMPT)
    assert message.content == reply_text(OPENAI_PROMPT, MockProfile(tokens=25))
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 25
    assert message.response_metadata["model_name"] == name
    # ChatOpenAI drops non-standard ``reasoning_content`` deltas: nothing leaks into content.
    assert "Thinking" not in str(message.content)


async def test_streamed_tool_call_parses(chat_model: Callable[..., ChatOpenAI]) -> None:
    @tool
    def get_weather(city: str, days: int) -> str:
        """Weather forecast for a city."""
        return f"{city} {days}"

    llm = chat_model().bind_tools([get_weather])
    message = await collect(llm, [HumanMessage("weather for city=Oslo days=2")])
    assert message.content == ""
    [call] = message.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Oslo", "days": 2}
    assert message.response_metadata["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("streaming", [False, True])
async def test_react_agent_calls_the_tool_once_and_answers(
    chat_model: Callable[..., ChatOpenAI], streaming: bool
) -> None:
    from langgraph.prebuilt import create_react_agent

    calls: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        calls.append(city)
        return f"It is sunny in {city}."

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # moved to langchain.agents in v1
        agent = create_react_agent(chat_model(streaming=streaming), [get_weather])
    result = await agent.ainvoke({"messages": [("user", "What is the weather? city: Paris")]})
    assert calls == ["Paris"]
    final = result["messages"][-1]
    assert final.content == "The tool returned: It is sunny in Paris."
    assert [m.type for m in result["messages"]] == ["human", "ai", "tool", "ai"]
