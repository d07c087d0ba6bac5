"""One JSON policy for every front end: invalid Unicode, malformed or too deeply nested
JSON is refused before anything runs, each protocol in its own error format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda
from websockets.sync.client import connect

from tokenwire.protocols.client_json import MAX_DEPTH, InvalidJSON, loads
from tokenwire.routes import Route

Serve = Callable[..., httpx.Client]

#: JSON values no front end may accept, as raw bytes (escapes spelled as a client sends them).
HOSTILE = {
    "lone high surrogate": b'"a\\ud800b"',
    "lone low surrogate": b'"a\\udc00b"',
    "surrogate pair reversed": b'"\\udc00\\ud800"',
    "raw surrogate bytes": b'"a\xed\xa0\x80b"',
    "invalid UTF-8": b'"a\xffb"',
    "nested 900 deep": b"[" * 900 + b"]" * 900,
    "objects nested 900 deep": b'{"a":' * 900 + b"1" + b"}" * 900,
}

#: Per front end: the request whose text field holds the value, and how it must refuse it.
FRONT_ENDS: dict[str, tuple[str, bytes]] = {
    "native": ("/v1/routes/echo/runs", b'{"input": VALUE}'),
    "native stream": ("/v1/routes/echo/runs#stream", b'{"input": VALUE}'),
    "openai": (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "user", "content": VALUE}]}',
    ),
    "langserve invoke": ("/langserve/echo/invoke", b'{"input": VALUE}'),
    "langserve batch": ("/langserve/echo/batch", b'{"inputs": ["ok", VALUE]}'),
    "langserve stream": ("/langserve/echo/stream", b'{"input": VALUE}'),
    "langserve stream_events": ("/langserve/echo/stream_events", b'{"input": VALUE}'),
    "ai sdk": (
        "/v1/routes/chat/ui-chat",
        b'{"id": "c1", "messages": [{"role": "user", "parts": [{"type": "text", "text": VALUE}]}]}',
    ),
}


@pytest.fixture
def client(gateway_url: str, mock_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
def runs_client(serve: Serve, mock_url: str) -> httpx.Client:
    """A gateway of its own, for the tests that start runs."""
    return serve([Route("echo", RunnableLambda(lambda value: str(value)))])


def _refusal_text(front_end: str, response: httpx.Response) -> str:
    """The refusal's readable reason, after checking it has the protocol's own shape."""
    body = response.json()
    if front_end == "openai":
        assert response.status_code == 400
        assert body["error"]["type"] == "invalid_request_error"
        return str(body["error"]["message"])
    if front_end.startswith("langserve"):
        assert response.status_code == 422
        assert [error["type"] for error in body["detail"]] == ["json_invalid"]
        return str(body["detail"][0]["ctx"]["error"])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    return str(body["detail"])


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_every_http_front_end_refuses_hostile_json_before_anything_runs(
    client: httpx.Client, mock_url: str, front_end: str, value: bytes
) -> None:
    path, template = FRONT_ENDS[front_end]
    accept = "text/event-stream" if path.endswith("#stream") else "application/json"
    response = client.post(
        path.removesuffix("#stream"),
        content=template.replace(b"VALUE", value),
        headers={"Content-Type": "application/json", "Accept": accept},
    )
    reason = _refusal_text(front_end, response)
    assert "surrogate" in reason or "UTF-8" in reason or "nest deeper" in reason, reason
    assert client.get("/v1/runs", params={"status": "all"}).json()["runs"] == []
    assert httpx.get(f"{mock_url}/mock/requests").json() == []


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_websocket_messages_get_a_nack_and_nothing_runs(client: httpx.Client, value: bytes) -> None:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    message = b'{"type": "start", "route": "echo", "id": 7, "input": VALUE}'
    with connect(url) as socket:
        # Invalid UTF-8 cannot be a text frame at all; as a binary frame it reaches the parser.
        socket.send(message.replace(b"VALUE", value), text=False)
        nack = loads(socket.recv(timeout=10))
    assert (nack["type"], nack["status"], nack["code"]) == ("nack", 400, "invalid_message")
    assert client.get("/v1/runs", params={"status": "all"}).json()["runs"] == []


def test_the_cancel_body_is_parsed_by_the_same_parser(runs_client: httpx.Client) -> None:
    client = runs_client
    run_id = client.post("/v1/routes/echo/runs", json={"input": "x"}).json()["run_id"]
    response = client.post(
        f"/v1/runs/{run_id}/cancel",
        content=b'{"reason": "a\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Malformed JSON"
    assert "surrogate" in response.json()["detail"]


def test_valid_unicode_and_nesting_up_to_the_limit_pass(runs_client: httpx.Client) -> None:
    client = runs_client
    nested: Any = "leaf"
    for _ in range(MAX_DEPTH - 2):  # the body object and the "input" array count too
        nested = [nested]
    body = {"input": ["😀 \u00e9 \U0010ffff", nested]}
    response = client.post("/langserve/echo/invoke", json=body)
    assert response.status_code == 200, response.text
    assert "😀" in response.json()["output"]


def test_the_parser_counts_depth_from_the_outermost_container() -> None:
    assert loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(InvalidJSON, match="nest deeper than"):
        loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    # Many brackets, little depth: the walk runs and finds nothing.
    assert loads(b"[" + b",".join([b"[]"] * 1000) + b"]") == [[]] * 1000
    assert loads('"\\ud83d\\ude00"') == "😀"
    with pytest.raises(InvalidJSON, match="surrogate"):
        loads('"\\ud83d"')
