"""Injected faults, seen through raw httpx and through ChatOpenAI."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langchain_core.exceptions import ModelConnectionError, ModelRateLimitError
from langchain_openai import ChatOpenAI

from tokenwire.mock import MockProfile, reply_text, reply_tokens

PROMPT = "tell me a story about faults"
MESSAGES = [{"role": "user", "content": PROMPT}]


async def drain(llm: ChatOpenAI, prompt: str = PROMPT) -> str:
    text = ""
    async for chunk in llm.astream(prompt):
        text += str(chunk.content)
    return text


async def test_429_raises_a_rate_limit_error(chat_model: Callable[..., ChatOpenAI]) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await drain(chat_model("mock@fault=429"))
    assert isinstance(caught.value, ModelRateLimitError)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]


async def test_500_raises_a_server_error(chat_model: Callable[..., ChatOpenAI]) -> None:
    with pytest.raises(openai.InternalServerError):
        await chat_model("mock@fault=500").ainvoke(PROMPT)


async def test_429x2_succeeds_on_the_third_call(chat_model: Callable[..., ChatOpenAI]) -> None:
    key = f"key-{uuid.uuid4()}"
    llm = chat_model("mock", default_headers={"x-mock-fault": "429x2", "x-mock-fault-key": key})
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            await drain(llm)
    assert await drain(llm) == reply_text(MESSAGES)
    assert await drain(llm) == reply_text(MESSAGES)


async def test_500x1_is_retried_by_the_sdk(chat_model: Callable[..., ChatOpenAI]) -> None:
    llm = chat_model(f"mock-{uuid.uuid4()}@fault=500x1", max_retries=1)
    assert await drain(llm) == reply_text(MESSAGES)


def test_drop_leaves_the_chunked_body_unterminated(mock_url: str, outcome: Any) -> None:
    body = {"model": "mock@fault=drop:5", "messages": MESSAGES, "stream": True}
    headers = {"x-request-id": f"drop-{uuid.uuid4()}"}
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream("POST", f"{mock_url}/v1/chat/completions", json=body, headers=headers) as r,
    ):
        lines.extend(line for line in r.iter_lines() if line)
    assert len(lines) == 1 + 5  # role chunk and five tokens, then nothing
    record = outcome(headers["x-request-id"])
    assert record["outcome"] == "dropped" and record["tokens_sent"] == 5


def test_non_streaming_drop_cuts_the_body(mock_url: str) -> None:
    body = {"model": "mock@fault=drop:0", "messages": MESSAGES}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{mock_url}/v1/chat/completions", json=body)


async def test_drop_raises_in_chat_openai(chat_model: Callable[..., ChatOpenAI]) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        async for chunk in chat_model("mock@fault=drop:3").astream(PROMPT):
            received.append(str(chunk.content))
    assert isinstance(caught.value, ModelConnectionError)
    assert "".join(received) == "".join(reply_tokens(MESSAGES)[:3])
    with pytest.raises(openai.APIConnectionError):
        await chat_model("mock@fault=drop:3").ainvoke(PROMPT)


async def test_malformed_chunk_raises_in_chat_openai(chat_model: Callable[..., ChatOpenAI]) -> None:
    with pytest.raises(ValueError):  # json.JSONDecodeError from the SDK's SSE decoder
        await drain(chat_model("mock@fault=malformed:2"))
    with pytest.raises(ValueError):
        await chat_model("mock@fault=malformed:2").ainvoke(PROMPT)


def test_malformed_line_then_the_stream_continues(mock_url: str) -> None:
    body = {"model": "mock@fault=malformed:2", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{mock_url}/v1/chat/completions", json=body) as r:
        lines = [line for line in r.iter_lines() if line]
    assert lines[3] == "data: {not json"
    assert lines[-1] == "data: [DONE]"
    assert len(lines) == 1 + len(reply_text(MESSAGES).split()) + 1 + 1 + 1


def test_stall_pauses_then_completes(mock_url: str, outcome: Any) -> None:
    body = {"model": "mock@fault=stall:2:0.4", "messages": MESSAGES, "stream": True}
    headers = {"x-request-id": f"stall-{uuid.uuid4()}"}
    arrivals: list[float] = []
    with httpx.stream("POST", f"{mock_url}/v1/chat/completions", json=body, headers=headers) as r:
        for line in r.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                arrivals.append(time.monotonic())
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == len(reply_text(MESSAGES).split())
    assert gaps[1] >= 0.35  # between the second and third token
    record = outcome(headers["x-request-id"])
    assert record["outcome"] == "completed" and record["fault"] == "stall:2:0.4"


def test_fault_key_header_separates_counters(chat: Callable[..., httpx.Response]) -> None:
    body: dict[str, Any] = {"model": "mock", "messages": MESSAGES}
    first, second = f"a-{uuid.uuid4()}", f"b-{uuid.uuid4()}"
    statuses = [
        chat(body, **{"x-mock-fault": "500x1", "x-mock-fault-key": key}).status_code
        for key in (first, second, first, second)
    ]
    assert statuses == [500, 500, 200, 200]


def test_forced_length_and_fault_combine(chat: Callable[..., httpx.Response]) -> None:
    response = chat({"model": "mock@tokens=3,fault=stall:1:0.01", "messages": MESSAGES})
    assert response.json()["choices"][0]["message"]["content"] == reply_text(
        MESSAGES, MockProfile(tokens=3)
    )
