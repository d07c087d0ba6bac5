"""The demo's three routes, end to end over a live gateway and the mock provider."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tokenwire.demo.routes import demo_routes
from tokenwire.testing import collect, text_of

Serve = Callable[..., httpx.Client]


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"))


def test_chat_streams_tokens(client: httpx.Client) -> None:
    events = collect(client, "chat", {"input": "Tell me about streaming"})
    assert text_of(events) == "You said: Tell me about streaming"
    assert sum(e.event == "token" for e in events) > 3
    assert events[-1].data["status"] == "completed"


def test_rag_sends_citations_before_the_answer(client: httpx.Client) -> None:
    events = collect(client, "rag", {"input": "How does resuming with Last-Event-ID work?"})
    kinds = [e.event for e in events]
    assert "retrieval" in kinds and "token" in kinds
    assert kinds.index("retrieval") < kinds.index("token")
    documents = events[kinds.index("retrieval")].data["documents"]
    assert documents[0]["id"] == "resume"
    assert documents[0]["source"] == "docs/runs.md"
    assert documents[0]["title"] == "Resuming a stream"
    assert documents[0]["snippet"].startswith("A tokenwire run is not a connection")
    end = events[-1].data
    assert end["status"] == "completed"
    assert end["output"] == text_of(events)
    assert "How does resuming" in end["output"]


def test_agent_streams_its_tool_step_then_the_answer(client: httpx.Client) -> None:
    body = {"input": {"messages": [{"role": "user", "content": "Status of order_id=A123?"}]}}
    events = collect(client, "agent", body)
    kinds = [e.event for e in events]
    start = events[kinds.index("tool.start")].data
    end = events[kinds.index("tool.end")].data
    assert start["name"] == end["name"] == "get_order_status"
    assert start["call_id"] == end["call_id"]
    assert start["args"] == {"order_id": "A123"}
    assert end["output"] == "order A123 is shipped on Monday"
    assert kinds.index("tool.end") < len(kinds) - 1 - kinds[::-1].index("token")
    answer = text_of(events)
    assert answer == "The tool returned: order A123 is shipped on Monday"
    assert events[-1].data["output"] == answer
    # Two model calls (tool call, answer): usage summed over both.
    assert events[-2].data["input_tokens"] > 0
