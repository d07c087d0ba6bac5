"""Shared by the protocol tests: the native stream as the reference, the mock's ledger."""

from __future__ import annotations

from typing import Any

import httpx

from tokenwire.testing import collect, text_of

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
