"""The OpenAI-compatible API, driven by the real ``openai`` SDK over a live gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import openai
import pytest
from langchain_core.runnables import RunnableLambda

from tests.protocols.helpers import PROMPTS, base, native_text, sdk
from tests.protocols.hitl import approval_graph
from tokenwire.demo.routes import demo_model, demo_routes, get_order_status
from tokenwire.routes import Route
from tokenwire.testing import mock_record, wait_for_status

Serve = Callable[..., httpx.Client]


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"))


@pytest.mark.parametrize("route", ["chat", "rag", "agent"])
def test_streaming_delivers_the_native_text(client: httpx.Client, route: str) -> None:
    stream = sdk(client).chat.completions.create(
        model=route,
        messages=[{"role": "user", "content": PROMPTS[route]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == native_text(client, route)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 3
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and finish.count("stop") == 1
    # include_usage: a last chunk with no choices and the run's summed usage.
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert chunks[-1].usage.total_tokens == (
        chunks[-1].usage.prompt_tokens + chunks[-1].usage.completion_tokens
    )
    assert {c.id for c in chunks} == {chunks[0].id} and chunks[0].model == route


def test_agent_tool_steps_stay_server_side(client: httpx.Client) -> None:
    chunks = list(
        sdk(client).chat.completions.create(
            model="agent", messages=[{"role": "user", "content": PROMPTS["agent"]}], stream=True
        )
    )
    assert all(not c.choices[0].delta.tool_calls for c in chunks)
    assert "order A123 is shipped on Monday" in "".join(
        c.choices[0].delta.content or "" for c in chunks
    )


def test_without_include_usage_there_is_no_usage_chunk(client: httpx.Client) -> None:
    chunks = list(
        sdk(client).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices and c.usage is None for c in chunks)


@pytest.mark.parametrize("route", ["chat", "rag", "agent"])
def test_non_streaming_completion(client: httpx.Client, route: str) -> None:
    completion = sdk(client).chat.completions.create(
        model=route, messages=[{"role": "user", "content": PROMPTS[route]}]
    )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == native_text(client, route)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_a_conversation_reaches_a_chat_model_as_messages(client: httpx.Client) -> None:
    completion = sdk(client).chat.completions.create(
        model="chat",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": [{"type": "text", "text": "second question"}]},
        ],
    )
    assert completion.choices[0].message.content == "You said: second question"
    # The system prompt and history were sent to the model: 4 messages counted.
    assert completion.usage is not None and completion.usage.prompt_tokens == 8 + 4 * 4


def test_tool_calls_the_run_returns_are_the_clients_to_execute(serve: Serve, mock_url: str) -> None:
    model = demo_model(f"{mock_url}/v1").bind_tools([get_order_status])
    client = serve([Route("tools", model)])
    messages: Any = [{"role": "user", "content": "get_order_status for A123"}]
    completion = sdk(client).chat.completions.create(model="tools", messages=messages)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_order_status"
    stream = sdk(client).chat.completions.create(model="tools", messages=messages, stream=True)
    chunks = list(stream)
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert [d.function.name for d in deltas if d.function and d.function.name] == [
        "get_order_status"
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_models_lists_the_routes(client: httpx.Client) -> None:
    assert sorted(m.id for m in sdk(client).models.list()) == ["agent", "chat", "rag"]
    assert sdk(client).models.retrieve("rag").id == "rag"
    with pytest.raises(openai.NotFoundError):
        sdk(client).models.retrieve("nope")


def test_an_idempotency_key_returns_the_same_run(client: httpx.Client) -> None:
    api = sdk(client)
    messages: Any = [{"role": "user", "content": "once"}]
    first = api.chat.completions.create(
        model="chat", messages=messages, extra_headers={"Idempotency-Key": "k1"}
    )
    again = api.chat.completions.create(
        model="chat", messages=messages, extra_headers={"Idempotency-Key": "k1"}
    )
    assert again.id == first.id
    assert again.choices[0].message.content == first.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as reused:
        api.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "other"}],
            extra_headers={"Idempotency-Key": "k1"},
        )
    assert reused.value.code == "idempotency_conflict"


def test_errors_before_streaming_are_openai_errors(serve: Serve, mock_url: str) -> None:
    two_fields = RunnableLambda(lambda x: x).with_types(input_type=dict[str, int])
    client = serve([*demo_routes(f"{mock_url}/v1"), Route("numbers", two_fields)])
    api = sdk(client)
    with pytest.raises(openai.NotFoundError) as missing:
        api.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    assert missing.value.body == {
        "message": "no route named 'nope'",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.BadRequestError) as empty:
        api.chat.completions.create(model="chat", messages=[])
    assert "messages" in empty.value.message
    with pytest.raises(openai.BadRequestError) as shape:
        api.chat.completions.create(model="numbers", messages=[{"role": "user", "content": "x"}])
    assert "not chat-shaped" in shape.value.message
    with pytest.raises(openai.BadRequestError) as no_user:
        api.chat.completions.create(model="rag", messages=[{"role": "system", "content": "x"}])
    assert "no user message" in no_user.value.message
    raw = client.post("/v1/chat/completions", content=b"{not json")
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"


async def _failing(_: Any) -> AsyncIterator[str]:
    yield "partial "
    raise ValueError("secret internal detail")


def test_a_failure_mid_stream_is_an_error_chunk_and_no_done(serve: Serve) -> None:
    client = serve([Route("broken", RunnableLambda(_failing).with_types(input_type=str))])
    stream = sdk(client).chat.completions.create(
        model="broken", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as failure:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "partial "
    assert failure.value.code == "internal"
    assert "secret" not in failure.value.message
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "broken", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as response:
        raw = response.read().decode()
    assert '"error":{"message":"the runnable raised ValueError"' in raw
    assert "[DONE]" not in raw
    with pytest.raises(openai.InternalServerError):
        sdk(client).chat.completions.create(
            model="broken", messages=[{"role": "user", "content": "x"}]
        )


def test_an_upstream_failure_is_a_502_when_not_streaming(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "fault=500"))])
    response = client.post(
        "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


def test_a_client_that_disconnects_cancels_upstream(serve: Serve, mock_url: str) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))
    client = serve([route], disconnect_grace_seconds=0.05)
    stream = sdk(client).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "x"}], stream=True
    )
    first = [next(stream) for _ in range(5)]
    stream.close()
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200
    run_id = first[0].id.removeprefix("chatcmpl-")
    assert wait_for_status(client, run_id, "cancelled")["error"]["code"] == "cancelled"


def test_a_waiting_non_streaming_client_that_leaves_cancels_upstream(
    serve: Serve, mock_url: str
) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))
    client = serve([route], disconnect_grace_seconds=0.05)
    with pytest.raises(openai.APITimeoutError):
        openai.OpenAI(
            base_url=base(client), api_key="x", max_retries=0, timeout=0.5
        ).chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200


def test_an_interrupted_run_stops_with_an_interrupt_field(serve: Serve) -> None:
    client = serve([Route("review", approval_graph())])
    messages: Any = [{"role": "user", "content": "mail ada"}]
    stream = sdk(client).chat.completions.create(model="review", messages=messages, stream=True)
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra is not None
    pause = last.model_extra["interrupt"]
    (interrupt,) = pause["interrupts"]
    (approval,) = pause["approvals"]
    assert interrupt["value"]["action_requests"][0]["name"] == "send_email"
    assert (approval["interrupt_id"], approval["name"]) == (interrupt["interrupt_id"], "send_email")
    assert all("interrupt" not in (c.model_extra or {}) for c in chunks[:-1])
    completion = sdk(client).chat.completions.create(model="review", messages=messages)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == ""
    assert completion.model_extra is not None
    assert completion.model_extra["interrupt"]["approvals"][0]["name"] == "send_email"
