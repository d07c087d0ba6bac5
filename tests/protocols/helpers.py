"""Shared by the protocol tests: the native stream as the reference, the mock's ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.sse import collect, text_of

#: One prompt per demo route, in the native API's input shape and as OpenAI messages.
PROMPTS = {
    "chat": "Tell me about streaming",
    "rag": "How does resuming with Last-Event-ID work?",
    "agent": "Status of order_id=A123?",
}


def native_input(route: str) -> Any:
    prompt = PROMPTS[route]
    if route == "agent":
        return {"messages": [{"role": "user", "content": prompt}]}
    return prompt


def native_text(client: httpx.Client, route: str) -> str:
    """The final text of the route's run on the native SSE API: what every protocol
    must deliver too."""
    events = collect(client, route, {"input": native_input(route)})
    assert events[-1].data["status"] == "completed"
    return text_of(events)


def mock_record(mock_url: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first request in the mock provider's ledger matching ``predicate`` (polls 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for record in httpx.get(f"{mock_url}/mock/requests").json():
            if predicate(record):
                return record
        time.sleep(0.01)
    raise AssertionError("the mock provider never saw that")


def wait_for_status(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    snapshot: dict[str, Any] = {}
    while time.monotonic() < deadline:
        snapshot = client.get(f"/v1/runs/{run_id}").json()
        if snapshot["status"] == status:
            return snapshot
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} is {snapshot.get('status')}, not {status}")
