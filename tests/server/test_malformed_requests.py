"""Malformed requests are the client's mistake: a 4xx with a readable body, and nothing runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

Serve = Callable[..., httpx.Client]


@pytest.fixture
def client(gateway_url: str, mock_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        yield client
    # Whatever a test sent, nothing started and the provider was never called.
    with httpx.Client(base_url=gateway_url) as check:
        assert check.get("/v1/runs", params={"status": "all"}).json()["runs"] == []
    assert httpx.get(f"{mock_url}/mock/requests").json() == []


def _problem(response: httpx.Response, status: int = 422) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return str(response.json()["detail"])


@pytest.mark.parametrize("cursor", ["x", "-1", "1.5"])
def test_a_streaming_start_with_a_bad_last_event_id_starts_nothing(
    client: httpx.Client, cursor: str
) -> None:
    headers = {"Accept": "text/event-stream", "Last-Event-ID": cursor}
    response = client.post("/v1/routes/chat/runs", json={"input": "hi"}, headers=headers)
    assert "Last-Event-ID" in _problem(response)


CONFIGS = [
    ({"tags": 5}, "config.tags"),
    ({"tags": ["ok", 5]}, "config.tags.1"),
    ({"metadata": "x"}, "config.metadata"),
    ({"metadata": ["a", "b"]}, "config.metadata"),
    ({"configurable": "x"}, "config.configurable"),
    ({"run_name": {"a": 1}}, "config.run_name"),
]


@pytest.mark.parametrize(("config", "where"), CONFIGS)
@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_wrong_config_types_are_a_422_on_the_native_api(
    client: httpx.Client, config: dict[str, Any], where: str, accept: str
) -> None:
    body = {"input": "hi", "config": config}
    response = client.post("/v1/routes/echo/runs", json=body, headers={"Accept": accept})
    assert where in _problem(response)


@pytest.mark.parametrize(("config", "where"), CONFIGS)
@pytest.mark.parametrize("endpoint", ["invoke", "batch", "stream", "stream_events"])
def test_wrong_config_types_are_a_422_on_langserve(
    client: httpx.Client, config: dict[str, Any], where: str, endpoint: str
) -> None:
    body: dict[str, Any] = {"input": "hi", "config": config}
    if endpoint == "batch":
        body = {"inputs": ["hi"], "config": config}
    response = client.post(f"/langserve/echo/{endpoint}", json=body)
    assert response.status_code == 422, response.text
    assert any(where in line for line in response.json()["detail"])


@pytest.mark.parametrize(("config", "where"), CONFIGS)
def test_wrong_config_types_are_a_nack_on_websocket(
    client: httpx.Client, config: dict[str, Any], where: str
) -> None:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    with connect(url) as socket:
        socket.send(json.dumps({"type": "start", "route": "echo", "input": "x", "config": config}))
        nack = json.loads(socket.recv(timeout=10))
    assert (nack["type"], nack["status"], nack["code"]) == ("nack", 422, "invalid_request")
    assert where in nack["message"]


#: Conversations LangChain cannot turn into messages, each a different exception inside it.
BAD_CONVERSATIONS = {
    "tool message without tool_call_id": [
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "42"},
    ],
    "tool_calls entries not objects": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [5]},
    ],
    "tool_calls not a list": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": "x"},
    ],
    "tool call without a function": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "a", "function": 5}]},
    ],
}


@pytest.mark.parametrize("messages", BAD_CONVERSATIONS.values(), ids=list(BAD_CONVERSATIONS.keys()))
def test_openai_messages_langchain_cannot_convert_are_a_400(
    client: httpx.Client, messages: list[dict[str, Any]]
) -> None:
    response = client.post("/v1/chat/completions", json={"model": "chat", "messages": messages})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages"
    assert "messages[1]" in error["message"] or "messages.1" in error["message"]


@pytest.mark.parametrize("messages", BAD_CONVERSATIONS.values(), ids=list(BAD_CONVERSATIONS.keys()))
def test_the_same_messages_are_a_422_on_the_native_api(
    client: httpx.Client, messages: list[dict[str, Any]]
) -> None:
    response = client.post("/v1/routes/chat/runs", json={"input": messages})
    assert "input.messages" in _problem(response)


def test_a_tool_message_without_its_call_id_says_what_is_missing(client: httpx.Client) -> None:
    messages = BAD_CONVERSATIONS["tool message without tool_call_id"]
    response = client.post("/v1/chat/completions", json={"model": "chat", "messages": messages})
    assert "messages[1].tool_call_id: required" in response.json()["error"]["message"]


@pytest.mark.parametrize("tool_calls", [[5], ["call"], [None], "x", {"id": "a"}])
def test_langserve_ai_messages_whose_tool_calls_are_not_objects_are_a_422(
    client: httpx.Client, tool_calls: Any
) -> None:
    history = [
        {"type": "human", "content": "hi"},
        {"type": "ai", "content": "", "tool_calls": tool_calls},
    ]
    response = client.post("/langserve/chat/invoke", json={"input": history})
    assert response.status_code == 422, response.text
    assert "tool_calls" in json.dumps(response.json()["detail"])


@pytest.mark.parametrize(
    "params", [{"after": 2**63}, {"after": 10**30}, {"after": -1}, {"limit": 0}]
)
def test_audit_paging_out_of_range_is_a_422(client: httpx.Client, params: dict[str, int]) -> None:
    response = client.get("/v1/audit/records", params=params)
    detail = _problem(response)
    assert ("after" in detail) or ("limit" in detail)


def test_the_largest_audit_sequence_is_still_a_valid_cursor(client: httpx.Client) -> None:
    response = client.get("/v1/audit/records", params={"after": 2**63 - 1})
    assert response.status_code == 200
    assert response.json() == {"records": [], "next_after": 2**63 - 1}


@pytest.mark.parametrize(
    "params",
    [{"bucket": 5e-324}, {"bucket": 1e-300, "window": 86400}, {"window": 1, "bucket": 1e-300}],
)
def test_telemetry_windows_too_fine_to_draw_are_a_422(
    client: httpx.Client, params: dict[str, float]
) -> None:
    response = client.get("/v1/telemetry/summary", params=params)
    assert "buckets" in _problem(response)
