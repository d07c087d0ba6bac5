"""OpenAI Responses API (``POST /v1/responses``) with the real openai SDK, against a live
gateway whose ``chat`` route is a real ``ChatOpenAI`` on the bundled mock provider: text
matches the native stream, tool calls come back as ``function_call`` items and their
results are accepted, budgets end ``incomplete``, bad input is a 400 naming it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langchain_core.runnables import RunnableLambda

from tests.protocols.helpers import base, native_text, sdk
from tokenwire.demo.routes import demo_routes
from tokenwire.routes import Route
from tokenwire.testing import mock_record

Serve = Callable[..., httpx.Client]

WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"))


def test_a_response_streams_the_text_the_native_stream_has(client: httpx.Client) -> None:
    expected = native_text(client, "chat")
    events = list(
        sdk(client).responses.create(model="chat", input="Tell me about streaming", stream=True)
    )
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == expected
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "completed" and final.output_text == expected
    assert final.usage is not None and final.usage.output_tokens > 0


def test_the_sdks_stream_helper_accumulates_the_same_response(client: httpx.Client) -> None:
    expected = native_text(client, "chat")
    with sdk(client).responses.stream(
        model="chat", input=[{"role": "user", "content": "Tell me about streaming"}]
    ) as stream:
        texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(texts) == final.output_text == expected


def test_a_non_streaming_response(client: httpx.Client, mock_url: str) -> None:
    expected = native_text(client, "chat")
    parts: Any = [
        {"type": "input_text", "text": "Tell me about "},
        {"type": "input_text", "text": "streaming"},
    ]
    response = sdk(client).responses.create(
        model="chat",
        instructions="You are terse.",
        input=[{"type": "message", "role": "user", "content": parts}],
        metadata={"team": "web"},
    )
    assert response.status == "completed" and response.id.startswith("resp_")
    assert response.metadata == {"team": "web"}
    assert response.output_text == expected
    record = mock_record(mock_url, lambda r: "You are terse." in str(r.get("body")))
    assert record["body"]["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Tell me about streaming"},
    ]


def test_tools_come_back_as_function_calls_and_their_outputs_are_taken(
    client: httpx.Client,
) -> None:
    first = sdk(client).responses.create(
        model="chat", input="get_weather for city=Oslo", tools=[WEATHER]
    )
    [call] = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.arguments == '{"city":"Oslo"}'
    assert call.call_id.startswith("call_") and call.status == "completed"

    second = sdk(client).responses.create(
        model="chat",
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "get_weather for city=Oslo"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "rain"},
        ],
    )
    assert second.output_text == "The tool returned: rain"

    streamed = list(
        sdk(client).responses.create(
            model="chat", input="get_weather for city=Oslo", tools=[WEATHER], stream=True
        )
    )
    args = [e for e in streamed if e.type == "response.function_call_arguments.done"]
    assert [e.arguments for e in args] == ['{"city":"Oslo"}']


def test_max_output_tokens_ends_the_response_incomplete(client: httpx.Client) -> None:
    response = sdk(client).responses.create(
        model="chat", input="Tell me about streaming", max_output_tokens=5
    )
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None


def test_a_failing_run_is_an_error_not_a_partial_answer(serve: Serve) -> None:
    def fail(_: str) -> str:
        raise RuntimeError("boom")

    client = serve([Route("broken", RunnableLambda(fail))])
    with pytest.raises(openai.InternalServerError):
        sdk(client).responses.create(model="broken", input="x")
    events = list(sdk(client).responses.create(model="broken", input="x", stream=True))
    assert events[-1].type == "response.failed"
    assert events[-1].response.error is not None  # type: ignore[union-attr]


def test_what_the_gateway_cannot_do_is_a_400_naming_it(client: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as stored:
        sdk(client).responses.create(model="chat", input="x", previous_response_id="resp_1")
    assert stored.value.param == "previous_response_id"  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as web:
        sdk(client).responses.create(
            model="chat", input="x", tools=[{"type": "web_search_preview"}]
        )
    assert web.value.param == "tools"  # type: ignore[attr-defined]
    bad = httpx.post(f"{base(client)}/responses", json={"model": "chat", "input": [{"x": 1}]})
    assert bad.status_code in (400, 422) and "input" in bad.text
