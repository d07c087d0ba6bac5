"""The adapter over the real ``ChatOpenAI`` code path, against the mock provider on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import invoke_runnable, stream_runnable


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    # ChatOpenAI's default async client is cached process-wide, and its pooled
    # connections belong to the event loop of the test that opened them.
    async with httpx.AsyncClient() as client:
        yield client


def chat_model(mock_url: str, model: str, client: httpx.AsyncClient) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{mock_url}/v1",
        api_key=SecretStr("mock"),
        model=model,
        stream_usage=True,
        max_retries=0,
        http_async_client=client,
    )


async def requests(mock_url: str, client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get(f"{mock_url}/mock/requests")
    records: list[dict[str, Any]] = response.json()
    return records


async def test_tokens_and_usage_from_chat_openai(
    mock_url: str, http_client: httpx.AsyncClient, sink: RecordingSink
) -> None:
    model = chat_model(mock_url, "mock@tokens=12", http_client)
    body = {"messages": [{"role": "user", "content": "hello there"}]}

    output = await stream_runnable(model, body, None, sink)

    assert output == sink.text != ""
    assert output == await invoke_runnable(model, body, None)
    ((input_tokens, output_tokens, name),) = sink.of("usage")
    assert (output_tokens, name) == (12, "mock@tokens=12")
    assert input_tokens > 0


class FirstTokenSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__()
        self.first = asyncio.Event()

    def token(self, text: str) -> None:
        super().token(text)
        self.first.set()


@pytest.mark.parametrize("shape", ["model", "chain"])
async def test_cancel_disconnects_from_the_provider(
    mock_url: str, http_client: httpx.AsyncClient, shape: str
) -> None:
    model = chat_model(mock_url, "mock@itl=50,tokens=200", http_client)
    runnable: Runnable[Any, Any] = model if shape == "model" else model | StrOutputParser()
    sink = FirstTokenSink()
    task = asyncio.create_task(stream_runnable(runnable, "hi", None, sink))
    await asyncio.wait_for(sink.first.wait(), 10)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    for _ in range(100):
        (record,) = await requests(mock_url, http_client)
        if record["outcome"] is not None:
            break
        await asyncio.sleep(0.01)
    assert record["outcome"] == "client_disconnected"
    assert record["tokens_sent"] < 10
