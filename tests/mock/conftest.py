"""One loopback mock provider for the mock tests; each test tells its requests apart itself.

``mock_url`` here overrides the root conftest's: one session-wide server whose ledger is never
cleared, so tests find their records by ``x-request-id`` rather than by position.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest
from langchain_openai import ChatOpenAI
from pydantic import SecretStr
from starlette.applications import Starlette

from tokenwire.mock import create_mock_app
from tokenwire.server.background import BackgroundServer


@pytest.fixture(scope="session")
def mock_app() -> Starlette:
    return create_mock_app()


@pytest.fixture(scope="session")
def mock_url(mock_app: Starlette) -> Iterator[str]:
    with BackgroundServer(mock_app) as server:
        yield server.url


@pytest.fixture
async def chat_model(mock_url: str) -> AsyncIterator[Callable[..., ChatOpenAI]]:
    """Make ``ChatOpenAI`` models for the mock, sharing an HTTP client closed after the test.

    Without an explicit client, langchain-openai caches one per (base_url, timeout) across
    event loops, and the next test's loop finds connections bound to a closed loop.
    """
    client = openai.DefaultAsyncHttpxClient()

    def make(model: str = "mock", **kwargs: Any) -> ChatOpenAI:
        kwargs.setdefault("max_retries", 0)
        return ChatOpenAI(
            base_url=mock_url + "/v1",
            api_key=SecretStr("mock"),
            model=model,
            http_async_client=client,
            **kwargs,
        )

    yield make
    await client.aclose()


@pytest.fixture
def chat(mock_url: str) -> Iterator[Callable[..., httpx.Response]]:
    """POST a chat-completions body (non-streaming) and return the response."""
    with httpx.Client(base_url=mock_url, timeout=10) as client:

        def post(body: dict[str, Any], **headers: str) -> httpx.Response:
            return client.post("/v1/chat/completions", json=body, headers=headers)

        yield post


@pytest.fixture
def stream_chat(mock_url: str) -> Iterator[Callable[..., list[Any]]]:
    """POST a streaming chat-completions body; return the parsed ``data:`` payloads."""
    with httpx.Client(base_url=mock_url, timeout=10) as client:

        def post(body: dict[str, Any], **headers: str) -> list[Any]:
            body = {**body, "stream": True}
            with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
                assert r.status_code == 200, r.read()
                assert r.headers["content-type"].startswith("text/event-stream")
                return sse_events(r.iter_lines())

        yield post


@pytest.fixture
def outcome(mock_url: str) -> Callable[..., dict[str, Any]]:
    """Wait for a request's ledger record to have an outcome (by request id)."""
    return lambda request_id, timeout=5.0: wait_for_outcome(mock_url, request_id, timeout)


def sse_events(lines: Iterator[str]) -> list[Any]:
    """Parsed ``data:`` payloads of an SSE body; ``[DONE]`` stays a string."""
    events: list[Any] = []
    for line in lines:
        if line.startswith("data: "):
            data = line.removeprefix("data: ")
            events.append(data if data == "[DONE]" else orjson.loads(data))
    return events


def wait_for_outcome(mock_url: str, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    """Poll ``GET /mock/requests`` until the request has an outcome."""
    deadline = time.monotonic() + timeout
    while True:
        rows = httpx.get(f"{mock_url}/mock/requests", params={"request_id": request_id}).json()
        if rows and rows[-1]["outcome"] is not None:
            return dict(rows[-1])
        if time.monotonic() > deadline:
            raise AssertionError(f"no outcome for {request_id}: {rows}")
        time.sleep(0.005)
