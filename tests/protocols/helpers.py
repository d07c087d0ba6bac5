"""Shared by the protocol tests: the native stream as the reference, the mock's ledger."""

from __future__ import annotations

from typing import Any

import httpx
import openai

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


def base(client: httpx.Client) -> str:
    """The gateway's OpenAI base URL."""
    return str(client.base_url).rstrip("/") + "/v1"


#: SDK clients made by :func:`sdk`, closed after each test (``tests/protocols/conftest.py``):
#: their pooled sockets, left to the garbage collector, would warn in whichever test runs then.
SDK_CLIENTS: list[openai.OpenAI] = []


def sdk(client: httpx.Client, api_key: str = "unused") -> openai.OpenAI:
    """The openai SDK on the gateway, closed when the test ends."""
    made = openai.OpenAI(base_url=base(client), api_key=api_key, max_retries=0)
    SDK_CLIENTS.append(made)
    return made
