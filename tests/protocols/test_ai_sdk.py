"""The AI SDK UI message stream, read by the real ``ai`` npm package (``DefaultChatTransport``
+ ``readUIMessageStream``) over a live gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.protocols.conftest import ReadUIStream
from tests.protocols.helpers import PROMPTS, native_text
from tests.protocols.hitl import approval_graph, question_graph
from tokenwire.demo.routes import demo_model, demo_routes
from tokenwire.routes import Route
from tokenwire.testing import mock_record

Serve = Callable[..., httpx.Client]


def api(client: httpx.Client, route: str) -> str:
    return f"{str(client.base_url).rstrip('/')}/v1/routes/{route}/ui-chat"


def text_of(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


def body(text: str, chat_id: str = "chat-1") -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": chat_id, "messages": [message], "trigger": "submit-message"}


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"))


@pytest.mark.parametrize("route", ["chat", "rag", "agent"])
def test_the_ai_sdk_reads_the_native_text(
    client: httpx.Client, read_ui_stream: ReadUIStream, route: str
) -> None:
    result = read_ui_stream("send", api(client, route), f"c-{route}", PROMPTS[route])
    assert result["errors"] == []
    message = result["message"]
    assert message["role"] == "assistant"
    assert text_of(message) == native_text(client, route)
    assert message["metadata"]["route"] == route
    assert message["metadata"]["status"] == "completed"
    assert message["metadata"]["usage"]["output_tokens"] > 0
    kinds = [c["type"] for c in result["chunks"]]
    assert kinds[:2] == ["start", "start-step"] and kinds[-2:] == ["finish-step", "finish"]
    assert result["chunks"][-1]["finishReason"] == "stop"
    assert kinds.count("text-delta") > 3


def test_agent_tool_steps_are_provider_executed_tool_parts(
    client: httpx.Client, read_ui_stream: ReadUIStream
) -> None:
    message = read_ui_stream("send", api(client, "agent"), "c", PROMPTS["agent"])["message"]
    kinds = [p["type"] for p in message["parts"]]
    [tool] = [p for p in message["parts"] if p["type"] == "dynamic-tool"]
    assert tool["toolName"] == "get_order_status"
    assert tool["state"] == "output-available"
    assert tool["input"] == {"order_id": "A123"}
    assert tool["output"] == "order A123 is shipped on Monday"
    assert tool["providerExecuted"] is True
    assert kinds.index("dynamic-tool") < kinds.index("text")


def test_rag_citations_are_source_documents_before_the_text(
    client: httpx.Client, read_ui_stream: ReadUIStream
) -> None:
    message = read_ui_stream("send", api(client, "rag"), "c", PROMPTS["rag"])["message"]
    kinds = [p["type"] for p in message["parts"]]
    sources = [p for p in message["parts"] if p["type"] == "source-document"]
    assert sources[0]["sourceId"] == "resume"
    assert sources[0]["title"] == "Resuming a stream"
    assert sources[0]["filename"] == "docs/runs.md"
    snippet = sources[0]["providerMetadata"]["tokenwire"]["snippet"]
    assert snippet.startswith("A tokenwire run is not a connection")
    assert kinds.index("source-document") < kinds.index("text")


def test_wire_format(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/routes/chat/ui-chat", json=body("hi")) as response:
        raw = response.read().decode()
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["content-type"].startswith("text/event-stream")
    assert raw.endswith("data: [DONE]\n\n")
    parts = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    assert parts[0] == {
        "type": "start",
        "messageId": response.headers["x-run-id"],
        "messageMetadata": parts[0]["messageMetadata"],
    }


def test_resume_replays_the_active_stream_and_is_204_after(
    serve: Serve, mock_url: str, read_ui_stream: ReadUIStream
) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=40,itl=30"))
    client = serve([route])
    with client.stream("POST", "/v1/routes/chat/ui-chat", json=body("hi", "c9")) as response:
        lines = response.iter_lines()
        while "text-delta" not in next(lines):
            pass
        resumed = read_ui_stream("resume", api(client, "chat"), "c9")
        rest = list(lines)
    assert "data: [DONE]" in rest
    expected = str(route.runnable.invoke("hi").content)
    assert text_of(resumed["message"]) == expected
    assert resumed["message"]["id"] == response.headers["x-run-id"]
    assert read_ui_stream("resume", api(client, "chat"), "c9") == {"message": None}
    assert read_ui_stream("resume", api(client, "chat"), "never-seen") == {"message": None}


async def _failing(_: Any) -> AsyncIterator[str]:
    yield "partial "
    raise ValueError("secret internal detail")


def test_a_failure_is_an_error_part(serve: Serve, read_ui_stream: ReadUIStream) -> None:
    client = serve([Route("broken", RunnableLambda(_failing).with_types(input_type=str))])
    result = read_ui_stream("send", api(client, "broken"), "c", "x")
    assert result["errors"] == ["the runnable raised ValueError"]
    assert text_of(result["message"]) == "partial "
    finish = result["chunks"][-1]
    assert (finish["type"], finish["finishReason"]) == ("finish", "error")
    assert result["message"]["metadata"]["status"] == "failed"


def test_errors_before_streaming(client: httpx.Client) -> None:
    missing = client.post("/v1/routes/nope/ui-chat", json=body("x"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    invalid = client.post("/v1/routes/chat/ui-chat", json={"id": "c", "messages": []})
    assert invalid.status_code == 422 and "messages" in invalid.json()["detail"]


def test_a_client_that_disconnects_cancels_upstream(serve: Serve, mock_url: str) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))
    client = serve([route], disconnect_grace_seconds=0.05)
    with client.stream("POST", "/v1/routes/chat/ui-chat", json=body("x")) as response:
        lines = response.iter_lines()
        deltas = 0
        while deltas < 5:
            deltas += "text-delta" in next(lines)
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200


@pytest.mark.parametrize(("approved", "outcome"), [("true", "approve"), ("false", "reject: no")])
def test_a_tool_approval_round_trip_with_the_real_chat(
    serve: Serve, node_script: Callable[..., Any], approved: str, outcome: str
) -> None:
    client = serve([Route("review", approval_graph())])
    chat = f"approval-{approved}"
    result = node_script(
        "chat_approval.mjs", api(client, "review"), chat, "mail ada", approved, "no"
    )
    assert result["error"] is None
    (tool,) = [p for p in result["requested"]["parts"] if p["type"] == "dynamic-tool"]
    assert (tool["state"], tool["toolName"], tool["input"]) == (
        "approval-requested",
        "send_email",
        {"to": "ada"},
    )
    assert tool["approval"]["id"] == tool["toolCallId"]
    assert result["requested"]["metadata"]["status"] == "interrupted"
    # The follow-up request carried the answer; the thread resumed and completed.
    assert len(result["bodies"]) == 2 and result["bodies"][1]["id"] == chat
    (answered,) = [p for p in result["messages"][-1]["parts"] if p["type"] == "dynamic-tool"]
    assert answered["state"] == "approval-responded"
    assert result["messages"][-1]["metadata"]["status"] == "completed"
    state = client.get(f"/v1/threads/{chat}").json()
    assert (state["values"]["outcome"], state["next"]) == (outcome, [])


def test_a_plain_interrupt_is_a_data_part_and_the_chat_is_the_thread(
    serve: Serve, read_ui_stream: ReadUIStream
) -> None:
    client = serve([Route("ask", question_graph())])
    result = read_ui_stream("send", api(client, "ask"), "c-ask", "paint it")
    assert result["errors"] == []
    (part,) = [p for p in result["message"]["parts"] if p["type"] == "data-interrupt"]
    assert part["data"]["value"] == {"question": "which colour?"}
    assert result["chunks"][-1]["finishReason"] == "other"
    assert client.get("/v1/threads/c-ask").json()["next"] == ["pause"]
    # Answering without an approval is refused as the thread waits for none.
    answer = body("x", "c-ask")
    answer["messages"].append(
        {
            "id": "a1",
            "role": "assistant",
            "parts": [{"type": "dynamic-tool", "state": "approval-responded",
                       "approval": {"id": "nope", "approved": True}}],
        }
    )  # fmt: skip
    refused = client.post("/v1/routes/ask/ui-chat", json=answer)
    assert refused.status_code == 422, refused.text
