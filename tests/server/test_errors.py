"""Errors before the first byte: real status codes with readable problem bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.prompts import ChatPromptTemplate

from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route

Serve = Callable[..., httpx.Client]


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    model = demo_model(f"{mock_url}/v1")
    prompt = ChatPromptTemplate.from_messages([("user", "{question}")])
    return serve([Route("chat", model), Route("qa", prompt | model)])


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "body"),
        (b"{}", "input: Field required"),
        (b'{"input": "x", "surprise": 1}', "surprise: Extra inputs are not permitted"),
        (b'{"input": "x", "on_disconnect": "never"}', "on_disconnect"),
        (b'{"input": "x", "config": {"callbacks": []}}', "config.callbacks"),
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "text/event-stream"])
def test_malformed_bodies_are_422_with_a_readable_message(
    client: httpx.Client, body: bytes, needle: str, accept: str
) -> None:
    # A streaming request takes the fast path (server/direct_route.py), the other the
    # documented FastAPI route: both answer alike.
    response = client.post(
        "/v1/routes/chat/runs",
        content=body,
        headers={"Content-Type": "application/json", "Accept": accept},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert needle in response.json()["detail"]


def test_input_is_checked_against_the_runnable_schema(client: httpx.Client) -> None:
    response = client.post("/v1/routes/qa/runs", json={"input": {"wrong": "key"}})
    assert response.status_code == 422
    assert "question" in response.json()["detail"]
    ok = client.post("/v1/routes/qa/runs", json={"input": {"question": "why?"}})
    assert ok.status_code == 202


def test_the_input_schema_is_built_once_and_still_refuses_bad_input(
    client: httpx.Client,
) -> None:
    # The route's schema is cached after the first request: later bad input is still a 422.
    for _ in range(3):
        ok = client.post("/v1/routes/qa/runs", json={"input": {"question": "why?"}})
        assert ok.status_code == 202
        bad = client.post("/v1/routes/qa/runs", json={"input": {"wrong": "key"}})
        assert bad.status_code == 422
        assert bad.json()["title"] == "Invalid run request" and bad.json()["errors"]
        assert bad.headers["content-type"] == "application/problem+json"
        assert "question" in bad.json()["detail"]


def test_headers_are_read_without_declared_parameters(client: httpx.Client) -> None:
    first = client.post(
        "/v1/routes/chat/runs", json={"input": "x"}, headers={"Idempotency-Key": "k1"}
    )
    again = client.post(
        "/v1/routes/chat/runs", json={"input": "x"}, headers={"Idempotency-Key": "k1"}
    )
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["run_id"] == first.json()["run_id"]
    stream = client.post(
        "/v1/routes/chat/runs",
        json={"input": "x"},
        headers={"Accept": "text/event-stream", "Last-Event-ID": "abc"},
    )
    assert stream.status_code == 422 and "Last-Event-ID" in stream.json()["detail"]


def test_the_native_route_documents_its_parameters(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/routes/{route}/runs"]["post"]
    documented = {(p["name"], p["in"], p["required"]) for p in operation["parameters"]}
    assert documented == {
        ("route", "path", True),
        ("idempotency-key", "header", False),
        ("last-event-id", "header", False),
    }


def test_openai_style_messages_are_accepted_by_a_chat_route(client: httpx.Client) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    response = client.post("/v1/routes/chat/runs", json={"input": messages})
    assert response.status_code == 202
    bad = client.post("/v1/routes/chat/runs", json={"input": [{"role": "alien", "content": 1}]})
    assert bad.status_code == 422


def test_unknown_route_and_unknown_run_are_404(client: httpx.Client) -> None:
    for accept in ("application/json", "text/event-stream"):
        response = client.post(
            "/v1/routes/nope/runs", json={"input": "x"}, headers={"Accept": accept}
        )
        assert response.status_code == 404
        assert "nope" in response.json()["detail"]
        assert response.json()["title"] == "Unknown route"
    for method, path in [
        ("GET", "/v1/runs/missing"),
        ("GET", "/v1/runs/missing/stream"),
        ("POST", "/v1/runs/missing/cancel"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["title"] == "Unknown run"


def test_a_bad_cursor_is_422(client: httpx.Client) -> None:
    run_id = client.post("/v1/routes/chat/runs", json={"input": "x"}).json()["run_id"]
    for headers, params in [({"Last-Event-ID": "abc"}, {}), ({}, {"after": "-3"})]:
        response = client.get(f"/v1/runs/{run_id}/stream", headers=headers, params=params)
        assert response.status_code == 422


def test_health_and_readiness(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["routes"] == ["chat", "qa"]


def test_registry_full_is_503_with_retry_after(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))], max_runs=2)
    for _ in range(2):
        assert client.post("/v1/routes/chat/runs", json={"input": "x"}).status_code == 202
    response = client.post("/v1/routes/chat/runs", json={"input": "x"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["title"] == "Too many live runs"


def test_router_dependencies_still_guard_the_start_route(tmp_path: Any) -> None:
    """Mounted in an app of one's own with a dependency (an auth check), the start route
    runs it: the fast endpoint never skips what the app asked for."""
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.testclient import TestClient
    from langchain_core.runnables import RunnableLambda

    from tokenwire.config import Settings
    from tokenwire.gateway import Gateway
    from tokenwire.server.api import create_router

    def deny() -> None:
        raise HTTPException(401, "no")

    gateway = Gateway([Route("echo", RunnableLambda(lambda x: x))], Settings(auth="none"))
    on_router = FastAPI()
    on_router.include_router(create_router(gateway), dependencies=[Depends(deny)])
    on_app = FastAPI(dependencies=[Depends(deny)])
    on_app.include_router(create_router(gateway))
    for app in (on_router, on_app):
        with TestClient(app) as client:
            assert client.post("/v1/routes/echo/runs", json={"input": "x"}).status_code == 401
    assert not list(gateway.registry.live())
