"""The unmodified ``@langchain/langgraph-sdk`` (npm) ``Client`` against a live gateway's
LangGraph server API: a run streamed in the modes ``useStream`` asks for, a connection lost
mid-stream, then the interrupt resumed with ``command: {resume}`` (node/langgraph_client.mjs).

What the JS client yielded across the break is compared with the run's whole stream read
afterwards by the Python SDK from the start: every event exactly once, none lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langgraph_sdk import get_sync_client

from tests.protocols.test_langgraph_sdk import KEYS, review_graph
from tokenwire.routes import Route
from tokenwire.testing import ScriptedChatModel, serve, text_turn

MODES = ["values", "updates", "messages-tuple", "custom"]
#: Enough text that a cut after a few kilobytes falls mid-stream.
PIECES = [f"word{i} " for i in range(40)]
NodeScript = Callable[..., Any]


@pytest.fixture
def gateway_url() -> Iterator[str]:
    model = ScriptedChatModel(turns=[text_turn(*PIECES)])
    # A long grace: the SDK waits 1-2 s before it reconnects (utils/reconnect.js).
    with serve(
        [Route("agent", review_graph(model))],
        credentials=KEYS,
        auth="required",
        disconnect_grace_seconds=30,
    ) as client:
        yield str(client.base_url).rstrip("/")


def whole_stream(url: str, thread_id: str, run_id: str) -> list[dict[str, Any]]:
    """The run's stream from its first event, read by the Python SDK."""
    with get_sync_client(url=url, api_key="sk-alice") as client:
        parts = client.runs.join_stream(thread_id, run_id, stream_mode=MODES)  # type: ignore[arg-type]
        return [{"event": p.event, "id": p.id, "data": p.data} for p in parts]


def text(parts: list[dict[str, Any]]) -> str:
    return "".join(p["data"][0]["content"] for p in parts if p["event"] == "messages")


def check_resumed(resumed: list[dict[str, Any]]) -> None:
    assert resumed[0]["event"] == "metadata"
    assert {"review": {"approved": "yes"}} in [
        p["data"] for p in resumed if p["event"] == "updates"
    ]
    assert [p["data"] for p in resumed if p["event"] == "values"][-1]["approved"] == "yes"


def test_the_sdk_reconnects_after_a_cut_connection(
    gateway_url: str, node_script: NodeScript
) -> None:
    result = node_script("langgraph_client.mjs", "drop", gateway_url, "sk-alice", "agent", "3000")
    assert result["cuts"] == 1
    parts, thread_id, run_id = result["parts"], result["threadId"], result["runId"]
    rejoins = [
        r
        for r in result["requests"]
        if r["method"] == "GET" and r["path"] == f"/threads/{thread_id}/runs/{run_id}/stream"
    ]
    assert len(rejoins) == 1
    assert rejoins[0]["lastEventId"] in {p["id"] for p in parts}
    assert parts == whole_stream(gateway_url, thread_id, run_id)
    assert text(parts) == "".join(PIECES)
    ids = [int(p["id"]) for p in parts]
    assert ids == sorted(set(ids))  # nothing twice
    values = [p["data"] for p in parts if p["event"] == "values"]
    assert len(values) == 3  # after every step: the input, chat, the pause
    assert values[-1]["__interrupt__"][0]["value"] == {"question": "ship it?"}
    check_resumed(result["resumed"])


@pytest.mark.parametrize("abort_after", [2, 12])
def test_join_stream_after_last_event_id(
    gateway_url: str, node_script: NodeScript, abort_after: int
) -> None:
    result = node_script(
        "langgraph_client.mjs", "rejoin", gateway_url, "sk-alice", "agent", str(abort_after)
    )
    parts, thread_id, run_id = result["parts"], result["threadId"], result["runId"]
    assert parts == whole_stream(gateway_url, thread_id, run_id)
    assert text(parts) == "".join(PIECES)
    joins = [
        r for r in result["requests"] if r["method"] == "GET" and r["path"].endswith("/stream")
    ]
    assert [r["lastEventId"] for r in joins] == [parts[abort_after - 1]["id"]]
    check_resumed(result["resumed"])
