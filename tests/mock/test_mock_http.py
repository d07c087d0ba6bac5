"""The wire format over real loopback HTTP, with raw httpx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tokenwire.mock import MockProfile, prompt_tokens, reply_text

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "stream   me\na short answer please"},
]


def content_of(events: list[Any]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict) and e["choices"]
    )


def test_streamed_text_equals_non_streamed_text_equals_reply_text(
    chat: Callable[..., httpx.Response], stream_chat: Callable[..., list[Any]]
) -> None:
    body = {"model": "mock", "messages": MESSAGES}
    events = stream_chat(body)
    response = chat(body)
    assert response.status_code == 200
    completion = response.json()
    expected = reply_text(MESSAGES)
    assert expected == "You said: stream me a short answer please"
    assert content_of(events) == completion["choices"][0]["message"]["content"] == expected
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["finish_reason"] == "stop"
    words = len(expected.split())
    assert completion["usage"] == {
        "prompt_tokens": prompt_tokens(MESSAGES),
        "completion_tokens": words,
        "total_tokens": prompt_tokens(MESSAGES) + words,
    }


def test_chunk_shapes_follow_openai(stream_chat: Callable[..., list[Any]]) -> None:
    events = stream_chat({"model": "mock-shape", "messages": MESSAGES})
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["model"] == "mock-shape" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("chatcmpl-")
    assert isinstance(chunks[0]["created"], int)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    tokens = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert tokens == ["You ", "said: ", "stream ", "me ", "a ", "short ", "answer ", "please"]
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert all("usage" not in c for c in chunks)  # no include_usage: no usage key at all


def test_usage_chunk_only_with_include_usage(stream_chat: Callable[..., list[Any]]) -> None:
    body: dict[str, Any] = {"model": "mock", "messages": MESSAGES}
    without = stream_chat({**body, "stream_options": {"include_usage": False}})
    assert all(c["choices"] for c in without[:-1])
    events = stream_chat({**body, "stream_options": {"include_usage": True}})
    *chunks, usage_chunk, done = events
    assert done == "[DONE]"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == len(reply_text(MESSAGES).split())
    assert all(c["usage"] is None for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_tokens_forces_the_reply_length(stream_chat: Callable[..., list[Any]]) -> None:
    body = {"model": "mock@tokens=57", "messages": MESSAGES}
    events = stream_chat(body, **{"x-mock-itl-ms": "0"})
    text = content_of(events)
    assert text == reply_text(MESSAGES, MockProfile(tokens=57))
    assert len(text.split()) == 57
    assert len(events) == 1 + 57 + 1 + 1  # role, tokens, finish, [DONE]


def test_reasoning_comes_before_content(stream_chat: Callable[..., list[Any]]) -> None:
    events = stream_chat({"model": "mock", "messages": MESSAGES}, **{"x-mock-reasoning": "1"})
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    reasoning = [d["reasoning_content"] for d in deltas if "reasoning_content" in d]
    assert "".join(reasoning) == "Thinking about it..."
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    last_reasoning = max(i for i, d in enumerate(deltas) if "reasoning_content" in d)
    assert last_reasoning < first_content
    assert content_of(events) == reply_text(MESSAGES)


def test_streamed_tool_call(stream_chat: Callable[..., list[Any]]) -> None:
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"properties": {"q": {"type": "string"}}}},
    }
    body = {"model": "mock", "messages": [{"role": "user", "content": "q=cats"}], "tools": [tool]}
    events = stream_chat(body)
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "lookup"
    assert "".join(c["function"]["arguments"] for c in calls) == '{"q":"cats"}'
    assert len(calls) >= 3
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "mock@itl=soon", "messages": []}, 400, "invalid_mock_setting"),
        ({"model": "gpt-4o", "messages": []}, 404, "model_not_found"),
        ({"model": "mock", "messages": "hi"}, 400, "invalid_request"),
        ({"messages": []}, 400, "invalid_request"),
    ],
)
def test_bad_requests_get_openai_errors(
    chat: Callable[..., httpx.Response], body: dict[str, Any], status: int, code: str
) -> None:
    response = chat(body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert error["message"]


def test_bad_header_is_a_400(chat: Callable[..., httpx.Response]) -> None:
    response = chat({"model": "mock", "messages": MESSAGES}, **{"x-mock-fault": "explode"})
    assert response.status_code == 400
    assert "explode" in response.json()["error"]["message"]


def test_models_lists_mock(mock_url: str) -> None:
    models = httpx.get(mock_url + "/v1/models").json()
    assert [m["id"] for m in models["data"]] == ["mock"]


def test_ledger_routes(chat: Callable[..., httpx.Response], mock_url: str) -> None:
    chat({"model": "mock-ledger", "messages": MESSAGES}, **{"x-request-id": "ledger-1"})
    [row] = httpx.get(mock_url + "/mock/requests", params={"request_id": "ledger-1"}).json()
    assert row["model"] == "mock-ledger" and row["stream"] is False
    assert row["outcome"] == "completed" and row["tokens_sent"] == len(reply_text(MESSAGES).split())
    assert row["started_at"] <= row["first_token_at"] <= row["ended_at"]
    stats = httpx.get(mock_url + "/mock/stats").json()
    assert set(stats) == {"open_streams", "requests"} and stats["requests"] >= 1
