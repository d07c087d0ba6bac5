"""Whichever protocol carries a run, it is the same run: guardrails act before any encoder
sees the text, and the run's record (output, usage, status) is identical."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from langchain_core.runnables import RunnableLambda
from websockets.sync.client import connect

from tests.pipeline.test_holdback import EMAIL, REDACTED, TEXT
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.routes import Route
from tokenwire.testing import collect, text_of, wait_for_status

Serve = Callable[..., httpx.Client]
USER = [{"role": "user", "content": "x"}]


async def _pii_in_small_chunks(_: str) -> AsyncIterator[str]:
    for i in range(0, len(TEXT), 3):
        yield TEXT[i : i + 3]


def _route() -> Route:
    guardrails = Guardrails(guards=(PiiGuard(),))
    return Route("pii", RunnableLambda(_pii_in_small_chunks), mode="tokens", guardrails=guardrails)


def _openai(client: httpx.Client) -> tuple[str, str]:
    body = {"model": "pii", "messages": USER, "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        raw = response.read().decode()
    chunks = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    return response.headers["x-run-id"], text


def _langserve(client: httpx.Client) -> tuple[str, str]:
    response = client.post("/langserve/pii/invoke", json={"input": "x"})
    return uuid.UUID(response.json()["metadata"]["run_id"]).hex, response.json()["output"]


def _ai_sdk(client: httpx.Client) -> tuple[str, str]:
    message = {"id": "u", "role": "user", "parts": [{"type": "text", "text": "x"}]}
    body = {"id": "c", "messages": [message], "trigger": "submit-message"}
    with client.stream("POST", "/v1/routes/pii/ui-chat", json=body) as response:
        raw = response.read().decode()
    parts = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    return response.headers["x-run-id"], text


def _websocket(client: httpx.Client) -> tuple[str, str]:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    with connect(url) as socket:
        socket.send(json.dumps({"type": "start", "route": "pii", "input": "x"}))
        run_id, text = "", ""
        while True:
            message = json.loads(socket.recv(timeout=10))
            if message["type"] == "ack":
                run_id = message["run_id"]
            elif message["type"] == "token":
                text += message["data"]["text"]
            elif message["type"] == "run.end":
                return run_id, text


@pytest.mark.parametrize("protocol", [_openai, _langserve, _ai_sdk, _websocket])
def test_guardrails_and_the_run_record_do_not_depend_on_the_protocol(
    serve: Serve, protocol: Callable[[httpx.Client], tuple[str, str]]
) -> None:
    client = serve([_route()])
    native = collect(client, "pii", {"input": "x"})
    reference = wait_for_status(client, native[0].data["run_id"], "completed")

    run_id, delivered = protocol(client)

    assert delivered == text_of(native) == REDACTED
    assert EMAIL not in delivered
    record = wait_for_status(client, run_id, "completed")
    for key in ("output", "usage", "error", "finish_reason"):
        assert record[key] == reference[key], key
    assert record["metadata"]["protocol"] in {"openai", "langserve", "ai-sdk", "websocket"}
