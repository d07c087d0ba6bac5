"""``run.restart`` (a fallback starts the answer over mid-stream) on each protocol: carried
where the protocol can retract text, a clear error where it cannot — never a corrupted
answer with the discarded text glued to the new one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langserve import RemoteRunnable

from tests.protocols.conftest import ReadUIStream
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.testing import collect, text_of

Serve = Callable[..., httpx.Client]
PROMPT = "one two three four five six seven eight nine ten"


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    primary = demo_model(f"{mock_url}/v1", "fault=drop:5")
    fallback = demo_model(f"{mock_url}/v1")
    return serve([Route("chat", primary, fallbacks=[fallback], mid_stream="restart")])


def _base(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def test_the_native_stream_carries_the_restart(client: httpx.Client) -> None:
    events = collect(client, "chat", {"input": PROMPT})
    kinds = [e.event for e in events]
    assert "run.restart" in kinds
    after = text_of(events[kinds.index("run.restart") :])
    assert after == f"You said: {PROMPT}" == events[-1].data["output"]


def test_the_ai_sdk_drops_the_discarded_step(
    client: httpx.Client, read_ui_stream: ReadUIStream
) -> None:
    result = read_ui_stream("send", f"{_base(client)}/v1/routes/chat/ui-chat", "c", PROMPT)
    assert "reset-step" in [c["type"] for c in result["chunks"]]
    texts = [p["text"] for p in result["message"]["parts"] if p["type"] == "text"]
    assert texts == [f"You said: {PROMPT}"]


def test_openai_streaming_ends_with_an_error_and_non_streaming_holds_the_answer(
    client: httpx.Client,
) -> None:
    api = openai.OpenAI(base_url=f"{_base(client)}/v1", api_key="x", max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]
    with pytest.raises(openai.APIError) as restarted:
        list(api.chat.completions.create(model="chat", messages=messages, stream=True))
    assert restarted.value.code == "restarted"
    completion = api.chat.completions.create(model="chat", messages=messages)
    assert completion.choices[0].message.content == f"You said: {PROMPT}"


def test_langserve_stream_errors_and_invoke_holds_the_answer(client: httpx.Client) -> None:
    runnable: RemoteRunnable[str, Any] = RemoteRunnable(f"{_base(client)}/langserve/chat/")
    with pytest.raises(httpx.HTTPStatusError) as restarted:
        list(runnable.stream(PROMPT))
    assert restarted.value.response.status_code == 503
    assert runnable.invoke(PROMPT).content == f"You said: {PROMPT}"
