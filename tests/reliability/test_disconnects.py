"""A client leaving cancels upstream work at every stage: before the first token, during a
retry's backoff, on a fallback, after a restart, and inside a tool call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool

from tests.reliability.conftest import Live
from tokenwire.demo.routes import demo_model
from tokenwire.reliability import RetryPolicy
from tokenwire.routes import Route
from tokenwire.testing import iter_sse, poll_until, start_stream

PROMPT = "Tell me about reliable streaming"


def _model(mock_url: str, profile: str) -> Any:
    return demo_model(f"{mock_url}/v1", profile)


def _leave_after(gateway: Live, route: str, events: int, mock_url: str | None = None) -> str:
    """Stream until ``events`` events arrived (and, given ``mock_url``, the provider has
    the request open), then drop the connection: returns the run id."""
    with start_stream(gateway.client, route, {"input": PROMPT}) as response:
        # Kept referenced: a discarded reader closes the connection at once.
        reader = iter_sse(response)
        for _ in range(events):
            next(reader)
        run_id = response.headers["x-run-id"]
        deadline = time.monotonic() + 5
        while mock_url and httpx.get(f"{mock_url}/mock/stats").json()["open_streams"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reader.close()
    return run_id


def _closed_record(mock_url: str, needle: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for record in httpx.get(f"{mock_url}/mock/requests").json():
            if needle in record["model"] and record["outcome"] is not None:
                return dict(record)
        time.sleep(0.01)
    raise AssertionError(f"no finished mock request for {needle}")


def _status(gateway: Live, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        snapshot = gateway.client.get(f"/v1/runs/{run_id}").json()
        if snapshot["status"] == status:
            return dict(snapshot)
        time.sleep(0.01)
    raise AssertionError(f"run {run_id} never became {status}")


@pytest.mark.parametrize(
    ("stage", "route", "needle", "events"),
    [
        # run.start only: the model is still thinking about its first token.
        ("waiting for the first token", Route("chat", None), "ttft=5000", 1),  # type: ignore[arg-type]
        ("streaming a fallback", Route("chat", None), "itl=20,tokens=300", 6),  # type: ignore[arg-type]
        ("after a restart", Route("chat", None), "itl=20,tokens=200", 10),  # type: ignore[arg-type]
    ],
    ids=["first-token", "fallback", "restart"],
)
def test_leaving_closes_the_upstream_request(
    live: Callable[..., Live], mock_url: str, stage: str, route: Route, needle: str, events: int
) -> None:
    if stage == "waiting for the first token":
        route = Route("chat", _model(mock_url, needle))
    elif stage == "streaming a fallback":
        route = Route("chat", _model(mock_url, "fault=500"), fallbacks=[_model(mock_url, needle)])
    else:
        route = Route(
            "chat",
            _model(mock_url, "tokens=20,fault=drop:3"),
            fallbacks=[_model(mock_url, needle)],
            mid_stream="restart",
        )
    gateway = live([route], disconnect_grace_seconds=0)
    run_id = _leave_after(gateway, "chat", events, mock_url)
    # Closed by the client's leaving, not by the upstream finishing its long answer.
    record = _closed_record(mock_url, needle)
    assert record["outcome"] == "client_disconnected"
    assert _status(gateway, run_id, "cancelled")["error"]["code"] == "cancelled"
    gateway.wait_for_no_leftovers(mock_url)


def test_leaving_during_a_retry_backoff_stops_the_retries(
    live: Callable[..., Live], mock_url: str
) -> None:
    # Every attempt gets a 429 with Retry-After: 1, so the run sleeps a second between tries.
    route = Route(
        "chat", _model(mock_url, "fault=429"), retry=RetryPolicy(max_retries=5, base_delay=0.01)
    )
    gateway = live([route], disconnect_grace_seconds=0)
    with start_stream(gateway.client, "chat", {"input": PROMPT}) as response:
        run_id = response.headers["x-run-id"]
        deadline = time.monotonic() + 5
        while gateway.gateway.reliability.stats.retries == 0:  # now inside the backoff sleep
            assert time.monotonic() < deadline
            time.sleep(0.01)
    run = gateway.gateway.registry.get(run_id)
    assert run is not None and run.task is not None
    snapshot = _status(gateway, run_id, "cancelled")
    assert snapshot["error"]["code"] == "cancelled"
    # The retries run in the run's task: once it is done, no further attempt can be made.
    poll_until(run.task.done, message="the run's task outlived its cancellation")
    assert len(httpx.get(f"{mock_url}/mock/requests").json()) == 1
    gateway.wait_for_no_leftovers(mock_url)


TOOL_STATE: dict[str, Any] = {}


@tool
async def slow_lookup(query: str) -> str:
    """A lookup that takes a long time."""
    TOOL_STATE["started"] = True
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        TOOL_STATE["cancelled"] = True
        raise
    return "too late"


async def _agentish(_: Any, config: RunnableConfig) -> AsyncIterator[str]:
    yield "Let me check. "
    await slow_lookup.ainvoke({"query": "orders"}, config)
    yield "Done."


def test_leaving_inside_a_tool_call_cancels_the_tool(live: Callable[..., Live]) -> None:
    TOOL_STATE.clear()
    route = Route("agent", RunnableLambda(_agentish), mode="events")
    gateway = live([route], disconnect_grace_seconds=0)
    run_id = _leave_after(gateway, "agent", 3)  # run.start, token, tool.start
    snapshot = _status(gateway, run_id, "cancelled")
    # The tool sleeps 10 s: cancelled, not finished, by the time the run is.
    assert TOOL_STATE["started"] and TOOL_STATE.get("cancelled")
    assert snapshot["output"] == "Let me check. "
