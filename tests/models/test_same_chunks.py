"""The lean and the stock ``ChatOpenAI`` give the same chunks for the same mock streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, cast

import openai
import pytest
from langchain_core.messages import AIMessageChunk, BaseMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI as StockChatOpenAI
from langchain_openai import StreamChunkTimeoutError
from pydantic import SecretStr

from tests.mock.conftest import wait_for_outcome
from tokenwire.models import ChatOpenAI

PROMPT = [HumanMessage("tell me about streaming")]
Make = Callable[..., tuple[StockChatOpenAI, ChatOpenAI]]


@tool
def get_weather(city: str, days: int) -> str:
    """The weather in a city for some days."""
    return f"sunny in {city} for {days} days"


@pytest.fixture
async def both(mock_url: str) -> AsyncIterator[Make]:
    """``both(model, **kwargs)``: a stock and a lean model, same settings, one HTTP client."""
    client = openai.DefaultAsyncHttpxClient()

    def make(model: str = "mock", **kwargs: Any) -> tuple[StockChatOpenAI, ChatOpenAI]:
        settings = {
            "base_url": mock_url + "/v1",
            "api_key": SecretStr("mock"),
            "model": model,
            "max_retries": 0,
            "http_async_client": client,
            **kwargs,
        }
        return StockChatOpenAI(**settings), ChatOpenAI(**settings)

    yield make
    await client.aclose()


def shape(chunk: BaseMessageChunk) -> tuple[Any, ...]:
    """Everything a chunk carries except its run id (a new one per call)."""
    assert isinstance(chunk, type(chunk))
    return (
        type(chunk),
        chunk.content,
        chunk.additional_kwargs,
        chunk.response_metadata,
        getattr(chunk, "tool_call_chunks", None),
        getattr(chunk, "tool_calls", None),
        getattr(chunk, "usage_metadata", None),
        getattr(chunk, "chunk_position", None),
    )


async def shapes(model: Any, prompt: Any = PROMPT, **kwargs: Any) -> list[tuple[Any, ...]]:
    return [shape(chunk) async for chunk in model.astream(prompt, **kwargs)]


async def merge(model: Any, prompt: Any = PROMPT) -> AIMessageChunk:
    merged: AIMessageChunk | None = None
    async for chunk in model.astream(prompt):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    return merged


@pytest.mark.parametrize(
    ("model", "settings"),
    [
        ("mock@tokens=30", {"stream_usage": True}),
        ("mock@tokens=30", {"stream_usage": False}),
        ("mock@tokens=5,reasoning=1", {"stream_usage": True}),
        ("mock", {"stream_usage": True, "max_tokens": 3}),  # finish_reason "length"
        ("mock", {"model_kwargs": {"stream_options": {"include_usage": True}}}),
        ("mock-other@tokens=4", {"stream_usage": True, "output_version": "v1"}),
    ],
)
async def test_text_streams_are_chunk_for_chunk_equal(
    both: Make, model: str, settings: dict[str, Any]
) -> None:
    stock, lean = both(model, **settings)
    expected = await shapes(stock)
    assert len(expected) > 3
    assert await shapes(lean) == expected


async def test_usage_and_metadata_survive_the_merge(both: Make) -> None:
    stock, lean = both("mock@tokens=30", stream_usage=True)
    a, b = await merge(stock), await merge(lean)
    assert (b.content, b.usage_metadata) == (a.content, a.usage_metadata)
    assert b.response_metadata == a.response_metadata
    assert b.response_metadata["finish_reason"] == "stop"
    assert b.response_metadata["model_name"] == "mock@tokens=30"
    assert b.usage_metadata is not None and b.usage_metadata["output_tokens"] == 30


async def test_tool_call_chunks_are_equal(both: Make) -> None:
    stock, lean = both(stream_usage=True)
    prompt = [HumanMessage("get_weather city=Paris days=3")]
    expected = await shapes(stock.bind_tools([get_weather]), prompt)
    assert await shapes(lean.bind_tools([get_weather]), prompt) == expected
    merged = await merge(lean.bind_tools([get_weather]), prompt)
    assert merged.tool_calls[0]["name"] == "get_weather"
    assert merged.tool_calls[0]["args"] == {"city": "Paris", "days": 3}
    assert merged.response_metadata["finish_reason"] == "tool_calls"


def test_the_sync_stream_is_equal_too(both: Make) -> None:
    stock, lean = both("mock@tokens=12", stream_usage=True)
    expected = [shape(c) for c in stock.stream(PROMPT)]
    assert [shape(c) for c in lean.stream(PROMPT)] == expected


async def error_of(model: Any) -> BaseException:
    with pytest.raises(BaseException) as caught:
        async for _ in model.astream(PROMPT):
            pass
    return caught.value


@pytest.mark.parametrize(
    "model",
    [
        "mock@fault=429",  # before the stream: the SDK's status errors, mapped by LangChain
        "mock@fault=500",
        "nope",  # 404
        "mock@fault=bad",  # 400
        "mock@tokens=20,fault=malformed:5",  # a payload that is not JSON
        "mock@tokens=20,fault=drop:5",  # the connection cut mid-body
    ],
)
async def test_errors_are_the_same_types(both: Make, model: str) -> None:
    stock, lean = both(model)
    expected, got = await error_of(stock), await error_of(lean)
    assert type(got) is type(expected), (got, expected)
    if isinstance(expected, openai.APIStatusError):
        assert isinstance(got, openai.APIStatusError)
        assert (got.status_code, got.body) == (expected.status_code, expected.body)


async def test_a_stalled_stream_hits_stream_chunk_timeout(both: Make) -> None:
    stock, lean = both("mock@tokens=10,fault=stall:3:5", stream_chunk_timeout=0.2)
    expected, got = await error_of(stock), await error_of(lean)
    assert isinstance(expected, StreamChunkTimeoutError)
    assert isinstance(got, StreamChunkTimeoutError)
    assert (got.chunks_received, got.model_name) == (expected.chunks_received, expected.model_name)


async def test_what_the_lean_path_does_not_read_goes_to_the_parent(both: Make) -> None:
    _, lean = both("mock@tokens=3")
    client = lean.async_client
    assert lean._lean({}, client, type(client))
    _, headers = both("mock@tokens=3", include_response_headers=True)
    assert not headers._lean({}, client, type(client))
    assert not lean._lean({"response_format": {"type": "json_object"}}, client, type(client))
    assert not lean._lean({}, object(), type(client))
    chunks = [c async for c in headers.astream(PROMPT)]
    assert "headers" in chunks[0].response_metadata  # the parent's with_raw_response path
    assert json.loads(json.dumps(chunks[0].response_metadata["headers"]))["x-request-id"]


async def test_ainvoke_is_the_parents(both: Make) -> None:
    stock, lean = both("mock@tokens=7")
    a, b = await stock.ainvoke(PROMPT), await lean.ainvoke(PROMPT)
    assert (b.content, b.usage_metadata) == (a.content, a.usage_metadata)


async def test_closing_the_stream_early_closes_the_provider_request(
    both: Make, mock_url: str
) -> None:
    _, lean = both("mock@tokens=100000,itl=5", default_headers={"x-request-id": "lean-close"})
    stream = cast(AsyncGenerator[AIMessageChunk, None], lean.astream(PROMPT))
    seen = [await anext(stream) for _ in range(3)]
    await stream.aclose()
    assert seen[1].content
    record = await asyncio.to_thread(wait_for_outcome, mock_url, "lean-close")
    assert record["outcome"] == "client_disconnected"
