"""OpenAI Chat Completions, faithfully: real clients (the openai SDK, LangChain's
``ChatOpenAI`` inside ``create_agent``) against a live gateway whose chat-model route is a
real ``ChatOpenAI`` on the bundled mock provider."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tests.protocols.helpers import PROMPTS, base, sdk
from tokenwire.demo.routes import demo_model, demo_routes
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.openai_api import IGNORED_HEADER
from tokenwire.testing import mock_record, serve

Serve = Callable[..., httpx.Client]

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    """The demo routes: ``chat`` (a bare ``ChatOpenAI`` on the mock), ``rag`` (a chain),
    ``agent`` (an agent whose tools run in the gateway)."""
    return serve(demo_routes(f"{mock_url}/v1"))


def provider_body(mock_url: str, needle: str) -> dict[str, Any]:
    """The body the mock provider received for the request whose messages hold ``needle``."""
    record = mock_record(mock_url, lambda r: needle in str((r.get("body") or {}).get("messages")))
    body = record["body"]
    assert isinstance(body, dict)
    return body


# -- (1) a tool-calling agent whose model is the gateway -----------------------------------


def test_create_agent_completes_a_two_tool_conversation_through_the_gateway(
    client: httpx.Client, mock_url: str
) -> None:
    ran: list[tuple[str, str]] = []

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        ran.append(("get_weather", city))
        return f"sunny in {city}"

    @tool
    def get_time(city: str) -> str:
        """The local time in a city."""
        ran.append(("get_time", city))
        return f"noon in {city}"

    model = ChatOpenAI(
        base_url=base(client), api_key=SecretStr("unused"), model="chat", max_retries=0
    )
    agent = create_agent(model, tools=[get_weather, get_time])
    question = "get_weather and then get_time for city=Paris"
    result = agent.invoke({"messages": [{"role": "user", "content": question}]})

    messages = result["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai", "tool", "ai"]
    assert ran == [("get_weather", "Paris"), ("get_time", "Paris")]
    first, second = messages[1], messages[3]
    assert isinstance(first, AIMessage) and isinstance(second, AIMessage)
    assert [c["name"] for c in first.tool_calls + second.tool_calls] == ["get_weather", "get_time"]
    tool_results = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.tool_call_id for m in tool_results] == [
        first.tool_calls[0]["id"],
        second.tool_calls[0]["id"],
    ]
    assert messages[-1].content == "The tool returned: noon in Paris"
    # The last turn reached the provider with the whole loop: assistant messages with
    # content null and tool_calls, and tool messages, as OpenAI takes them.
    body = provider_body(mock_url, "noon in Paris")
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool", "assistant", "tool"]
    assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert {t["function"]["name"] for t in body["tools"]} == {"get_weather", "get_time"}


# -- (2) max_tokens: a per-run output budget on every route --------------------------------

LONG = "please repeat " + " ".join(f"word{i}" for i in range(30))


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_stops_the_stream_with_finish_reason_length(
    client: httpx.Client, limit: str
) -> None:
    budget: Any = {limit: 5}
    chunks = list(
        sdk(client).chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": LONG}],
            stream=True,
            stream_options={"include_usage": True},
            **budget,
        )
    )
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert 0 < sum(1 for d in deltas if d) <= 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    # Usage is what the provider billed: on a loaded machine the whole answer (and its
    # usage) can arrive before the budget stops the run, so it may count more than 5.
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens > 0
    assert "".join(d or "" for d in deltas).startswith("You said:")


def test_max_tokens_non_streaming_and_on_a_chain(client: httpx.Client) -> None:
    completion = sdk(client).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": LONG}], max_tokens=5
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 5
    # A chain (not a chat model) is budgeted the same way.
    chain = sdk(client).chat.completions.create(
        model="rag", messages=[{"role": "user", "content": PROMPTS["rag"]}], max_tokens=3
    )
    assert chain.choices[0].finish_reason == "length"
    assert chain.usage is not None and chain.usage.completion_tokens <= 3


def test_max_tokens_is_not_forwarded_so_the_gateway_decides_the_length(
    client: httpx.Client, mock_url: str
) -> None:
    sdk(client).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "short one"}], max_tokens=50
    )
    body = provider_body(mock_url, "short one")
    assert "max_tokens" not in body and "max_completion_tokens" not in body


# -- (3) tools on a chat-model route -------------------------------------------------------


def test_tools_on_a_chat_model_route_return_tool_calls(client: httpx.Client, mock_url: str) -> None:
    messages: Any = [{"role": "user", "content": "get_weather for city=Oslo"}]
    completion = sdk(client).chat.completions.create(
        model="chat", messages=messages, tools=[WEATHER]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    [call] = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"Oslo"}' and call.id.startswith("call_")
    assert provider_body(mock_url, "city=Oslo")["tools"] == [WEATHER]

    chunks = list(
        sdk(client).chat.completions.create(
            model="chat", messages=messages, tools=[WEATHER], stream=True
        )
    )
    deltas = [d for c in chunks for d in (c.choices[0].delta.tool_calls or [])]
    # OpenAI's shape: the call's index, id, type and name first, then argument chunks.
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].type == "function"
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    assert all(d.index == 0 and d.id is None for d in deltas[1:])
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert arguments == '{"city":"Oslo"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_the_second_turn_of_a_tool_loop_is_accepted(client: httpx.Client) -> None:
    """The turn issue #20 found refused: ``content: null`` with ``tool_calls``, then a
    ``tool`` message — sent back through the SDK as OpenAI returned it."""
    messages: Any = [{"role": "user", "content": "get_weather for city=Rome"}]
    first = sdk(client).chat.completions.create(model="chat", messages=messages, tools=[WEATHER])
    answer = first.choices[0].message
    assert answer.content in (None, "") and answer.tool_calls
    messages.append(answer.model_dump(exclude_none=True) | {"content": None})
    messages.append(
        {"role": "tool", "tool_call_id": answer.tool_calls[0].id, "content": "rain in Rome"}
    )
    second = sdk(client).chat.completions.create(model="chat", messages=messages, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "The tool returned: rain in Rome"


# -- parameters: bound, refused by name, or ignored ----------------------------------------


def test_sampling_parameters_reach_the_provider(client: httpx.Client, mock_url: str) -> None:
    sdk(client).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "sampled please"}],
        temperature=0.25,
        top_p=0.5,
        seed=7,
        stop=["zzz"],
        tools=[WEATHER],
        tool_choice="none",
        parallel_tool_calls=False,
        response_format={"type": "json_object"},
        user="end-user-9",
    )
    body = provider_body(mock_url, "sampled please")
    sent = {k: body.get(k) for k in ("temperature", "top_p", "seed", "stop", "tool_choice")}
    assert sent == {
        "temperature": 0.25,
        "top_p": 0.5,
        "seed": 7,
        "stop": ["zzz"],
        "tool_choice": "none",
    }
    assert body["parallel_tool_calls"] is False
    assert body["response_format"] == {"type": "json_object"}
    assert "user" not in body  # attribution, not forwarded


def test_user_is_the_runs_attribution_user(client: httpx.Client) -> None:
    response = httpx.post(
        f"{base(client)}/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}], "user": "u-7"},
    )
    assert response.status_code == 200
    run = client.get(f"/v1/runs/{response.headers['x-run-id']}").json()
    assert run["metadata"]["user"] == "u-7"


def test_a_parameter_the_route_cannot_honour_is_a_400_naming_it(client: httpx.Client) -> None:
    with pytest.raises(openai.BadRequestError) as tools_on_chain:
        sdk(client).chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "x"}], tools=[WEATHER]
        )
    assert tools_on_chain.value.param == "tools"  # type: ignore[attr-defined]
    assert tools_on_chain.value.code == "unsupported_parameter"
    assert "tools" in tools_on_chain.value.message
    with pytest.raises(openai.BadRequestError) as logprobs:
        sdk(client).chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}], logprobs=True
        )
    assert logprobs.value.param == "logprobs"  # type: ignore[attr-defined]
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk(client).chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "x"}],
            extra_body={"frobnicate": 1},
        )
    assert unknown.value.param == "frobnicate"  # type: ignore[attr-defined]


def test_ignore_unsupported_params_runs_without_them_and_says_which(
    serve: Serve, mock_url: str
) -> None:
    client = serve(demo_routes(f"{mock_url}/v1"), ignore_unsupported_params=True)
    response = sdk(client).chat.completions.with_raw_response.create(
        model="rag",
        messages=[{"role": "user", "content": PROMPTS["rag"]}],
        tools=[WEATHER],
        temperature=0,
        logprobs=True,
    )
    assert response.headers[IGNORED_HEADER] == "logprobs,tools,temperature"
    assert response.parse().choices[0].finish_reason == "stop"


def test_a_non_openai_chat_model_takes_stop_but_not_temperature(serve: Serve) -> None:
    from tokenwire.testing import ScriptedChatModel, text_turn

    client = serve([Route("scripted", ScriptedChatModel(turns=[text_turn("ok")]))])
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(client).chat.completions.create(
            model="scripted", messages=[{"role": "user", "content": "x"}], temperature=0.3
        )
    assert refused.value.param == "temperature"  # type: ignore[attr-defined]
    done = sdk(client).chat.completions.create(
        model="scripted", messages=[{"role": "user", "content": "x"}], stop=["\n"]
    )
    assert done.choices[0].message.content == "ok"


# -- message shapes ------------------------------------------------------------------------


def test_every_message_shape_reaches_the_provider(client: httpx.Client, mock_url: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages: Any = [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]},
        {"role": "user", "name": "ann", "content": [{"type": "text", "text": "shapes test"}]},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 42."}]},
        {"role": "user", "content": "thanks"},
    ]
    completion = sdk(client).chat.completions.create(model="chat", messages=messages)
    assert completion.choices[0].message.content == "You said: thanks"
    sent = provider_body(mock_url, "shapes test")["messages"]
    assert [m["role"] for m in sent] == [
        "developer",
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
    ]
    assert sent[2]["name"] == "ann"
    assert sent[3]["tool_calls"][0]["id"] == "call_1" and not sent[3].get("content")
    assert sent[4]["tool_call_id"] == "call_1"


def test_a_message_that_does_not_fit_its_role_is_a_400_naming_it(client: httpx.Client) -> None:
    no_call_id: Any = [{"role": "user", "content": "x"}, {"role": "tool", "content": "y"}]
    with pytest.raises(openai.BadRequestError) as missing:
        sdk(client).chat.completions.create(model="chat", messages=no_call_id)
    assert "messages[1].tool_call_id" in missing.value.message
    bad_call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    not_an_object: Any = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [bad_call]},
    ]
    with pytest.raises(openai.BadRequestError) as arguments:
        sdk(client).chat.completions.create(model="chat", messages=not_an_object)
    assert "messages[1].tool_calls[0].function.arguments" in arguments.value.message


def _upper(text: str) -> str:
    return text.upper()


def test_a_string_route_takes_the_last_user_text_of_any_shape(serve: Serve) -> None:
    client = serve([Route("upper", RunnableLambda(_upper))])
    completion = sdk(client).chat.completions.create(
        model="upper",
        messages=[
            {"role": "developer", "content": "ignored"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        ],
    )
    assert completion.choices[0].message.content == "HELLO"


# -- auth and rate-limit errors in OpenAI's shape ------------------------------------------


def test_auth_and_rate_limit_errors_are_openai_errors(mock_url: str) -> None:
    key = ApiKey.from_config(
        {"alias": "web", "key": "sk-web", "roles": ["client"], "requests_per_minute": 1}
    )
    route = Route("chat", demo_model(f"{mock_url}/v1"))
    with serve([route], credentials=Credentials(keys=[key]), auth="required") as client:
        with pytest.raises(openai.AuthenticationError) as bad_key:
            sdk(client, "sk-wrong").chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "x"}]
            )
        body = bad_key.value.body
        assert isinstance(body, dict) and body["type"] == "invalid_request_error"
        assert body["code"] == "invalid_api_key" and bad_key.value.message
        api = sdk(client, "sk-web")
        api.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
        with pytest.raises(openai.RateLimitError) as limited:
            api.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
        assert isinstance(limited.value.body, dict)
        assert limited.value.body["type"] == "rate_limit_error"
        assert limited.value.response.headers["retry-after"]
        # The native API keeps problem+json.
        native = client.get("/v1/runs", headers={"Authorization": "Bearer sk-wrong"})
        assert native.headers["content-type"] == "application/problem+json"


def test_an_idempotency_key_reused_with_other_parameters_is_a_conflict(
    client: httpx.Client,
) -> None:
    api = sdk(client)
    key = {"Idempotency-Key": "same-key-1"}
    ask: Any = {"model": "chat", "messages": [{"role": "user", "content": "idem"}]}
    first = api.chat.completions.with_raw_response.create(**ask, temperature=0.2, extra_headers=key)
    again = api.chat.completions.with_raw_response.create(**ask, temperature=0.2, extra_headers=key)
    assert again.headers["x-run-id"] == first.headers["x-run-id"]  # a replay
    with pytest.raises(openai.BadRequestError) as conflict:
        api.chat.completions.create(**ask, temperature=0.9, extra_headers=key)
    assert conflict.value.code == "idempotency_conflict"
