"""Native SSE streams over a real server, ChatOpenAI talking to the mock provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.testing import (
    SSE,
    collect,
    iter_sse,
    mock_record,
    rejoin,
    start_stream,
    text_of,
    wait_for_status,
)

Serve = Callable[..., httpx.Client]
PROMPT = "Hello there, streaming world of tokens"


def chat(mock_url: str, profile: str = "") -> Route:
    return Route("chat", demo_model(f"{mock_url}/v1", profile))


def test_stream_is_framed_by_run_start_and_run_end_and_equals_invoke(
    serve: Serve, mock_url: str
) -> None:
    route = chat(mock_url)
    client = serve([route])
    events = collect(client, "chat", {"input": PROMPT})

    assert events[0].event == "run.start"
    assert events[-1].event == "run.end"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    expected = route.runnable.invoke(PROMPT).content
    assert text_of(events) == expected
    end = events[-1].data
    assert end["status"] == "completed"
    assert end["output"] == expected
    usage = next(e.data for e in events if e.event == "usage")
    assert usage["estimated"] is False
    assert usage["output_tokens"] == sum(1 for e in events if e.event == "token")
    start = events[0].data
    assert start["route"] == "chat" and start["model"] == "mock" and len(start["trace_id"]) == 32


def test_sse_response_hygiene(serve: Serve, mock_url: str) -> None:
    client = serve([chat(mock_url)])
    with start_stream(client, "chat", {"input": "hi"}) as response:
        raw = response.read().decode()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-encoding" not in response.headers
    assert raw.startswith("retry: 1000\n\n")
    assert "id: 1\nevent: run.start\ndata: {" in raw


def test_heartbeat_comments_keep_an_idle_stream_alive(serve: Serve, mock_url: str) -> None:
    client = serve([chat(mock_url, "ttft=600")], heartbeat_seconds=0.1)
    with start_stream(client, "chat", {"input": "hi"}) as response:
        raw = response.read().decode()
    assert raw.count(": ping\n\n") >= 3
    assert raw.rstrip().splitlines()[-2] == "event: run.end"


def _read(response: httpx.Response, k: int) -> list[SSE]:
    events: list[SSE] = []
    for event in iter_sse(response):
        events.append(event)
        if len(events) == k:
            break
    return events


def _assert_exactly_once(first: list[SSE], rest: list[SSE], expected_text: str) -> None:
    ids = [e.id for e in first + rest]
    assert ids == list(range(1, len(ids) + 1)), ids
    assert rest[-1].event == "run.end"
    assert text_of(first + rest) == expected_text


@pytest.mark.parametrize("k", [1, 2, 12, 23])
def test_rejoin_after_a_drop_mid_run_yields_exactly_the_remaining_events(
    serve: Serve, mock_url: str, k: int
) -> None:
    # tokens=20 → run.start + 20 tokens + usage + run.end = 23 events.
    route = chat(mock_url, "tokens=20,itl=15")
    client = serve([route])
    with start_stream(client, "chat", {"input": PROMPT}) as response:
        first = _read(response, k)
        run_id = response.headers["x-run-id"]
    rest = rejoin(client, run_id, after=first[-1].id or 0)
    expected = route.runnable.invoke(PROMPT).content
    if k == 23:
        assert rest == [] and first[-1].event == "run.end"
        rest = first[-1:]
        first = first[:-1]
    assert isinstance(expected, str)
    _assert_exactly_once(first, rest, expected)


@pytest.mark.parametrize("k", [1, 11, 22])
def test_rejoin_after_the_run_finished(serve: Serve, mock_url: str, k: int) -> None:
    route = chat(mock_url, "tokens=20,itl=5")
    client = serve([route])
    body = {"input": PROMPT, "on_disconnect": "continue"}
    with start_stream(client, "chat", body) as response:
        first = _read(response, k)
        run_id = response.headers["x-run-id"]
    wait_for_status(client, run_id, "completed")
    rest = rejoin(client, run_id, after=first[-1].id or 0)
    _assert_exactly_once(first, rest, str(route.runnable.invoke(PROMPT).content))
    # ?after= works as well as the header, and after=0 replays everything.
    with client.stream("GET", f"/v1/runs/{run_id}/stream", params={"after": 0}) as response:
        assert [e.id for e in iter_sse(response)] == list(range(1, 24))


def test_disconnect_with_cancel_policy_closes_the_upstream_request(
    serve: Serve, mock_url: str
) -> None:
    client = serve([chat(mock_url, "tokens=200,itl=20")], disconnect_grace_seconds=0.05)
    with start_stream(client, "chat", {"input": PROMPT}) as response:
        _read(response, 5)
        run_id = response.headers["x-run-id"]
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200
    snapshot = wait_for_status(client, run_id, "cancelled")
    assert snapshot["error"]["code"] == "cancelled"
    assert snapshot["output"].startswith("You said:")
    events = rejoin(client, run_id, after=0)
    assert [e.event for e in events[-3:]] == ["error", "usage", "run.end"]


def test_disconnect_within_the_grace_period_and_rejoin_keeps_the_run(
    serve: Serve, mock_url: str
) -> None:
    route = chat(mock_url, "tokens=30,itl=10")
    client = serve([route], disconnect_grace_seconds=2.0)
    with start_stream(client, "chat", {"input": PROMPT}) as response:
        first = _read(response, 4)
        run_id = response.headers["x-run-id"]
    rest = rejoin(client, run_id, after=4)
    assert rest[-1].data["status"] == "completed"
    _assert_exactly_once(first, rest, str(route.runnable.invoke(PROMPT).content))


def test_disconnect_with_continue_policy_finishes_and_keeps_the_output(
    serve: Serve, mock_url: str
) -> None:
    route = chat(mock_url, "tokens=40,itl=5")
    client = serve([route], disconnect_grace_seconds=0.0)
    body = {"input": PROMPT, "on_disconnect": "continue"}
    with start_stream(client, "chat", body) as response:
        _read(response, 3)
        run_id = response.headers["x-run-id"]
    snapshot = wait_for_status(client, run_id, "completed")
    assert snapshot["output"] == route.runnable.invoke(PROMPT).content
    assert snapshot["usage"]["output_tokens"] == 40


def test_cancel_endpoint_ends_a_live_run_promptly(serve: Serve, mock_url: str) -> None:
    client = serve([chat(mock_url, "tokens=500,itl=20")])
    accepted = client.post("/v1/routes/chat/runs", json={"input": PROMPT})
    assert accepted.status_code == 202
    run_id = accepted.json()["run_id"]
    assert accepted.json()["stream_url"] == f"/v1/runs/{run_id}/stream"
    time.sleep(0.2)
    response = client.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 200
    # The endpoint answers once the run has ended (or gives up waiting): "cancelled" here
    # means the 10 s stream was stopped, not left running.
    assert response.json()["status"] == "cancelled", response.json()
    events = rejoin(client, run_id, after=0)
    assert events[-1].data["status"] == "cancelled"
    assert events[-2].event == "usage" and events[-3].data["code"] == "cancelled"
    # Cancelling an ended run changes nothing.
    assert client.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"


def test_background_run_completes_and_is_retrievable(serve: Serve, mock_url: str) -> None:
    route = chat(mock_url)
    client = serve([route])
    accepted = client.post("/v1/routes/chat/runs", json={"input": PROMPT})
    assert accepted.status_code == 202
    snapshot = wait_for_status(client, accepted.json()["run_id"], "completed")
    assert snapshot["output"] == route.runnable.invoke(PROMPT).content
    assert snapshot["timings"]["ttft_ms"] > 0
    assert snapshot["finish_reason"] == "stop"


def test_idempotency_key_returns_the_same_run(serve: Serve, mock_url: str) -> None:
    client = serve([chat(mock_url)])
    headers = {"Idempotency-Key": "order-42"}
    first = client.post("/v1/routes/chat/runs", json={"input": PROMPT}, headers=headers)
    again = client.post("/v1/routes/chat/runs", json={"input": PROMPT}, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["run_id"] == again.json()["run_id"]
    with start_stream(client, "chat", {"input": PROMPT}, **headers) as response:
        events = list(iter_sse(response))
    assert events[0].data["run_id"] == first.json()["run_id"]
    other = client.post("/v1/routes/chat/runs", json={"input": "else"}, headers=headers)
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]
    assert len(_mock_requests(client, mock_url)) == 1


def _mock_requests(client: httpx.Client, mock_url: str) -> list[Any]:
    return list(httpx.get(f"{mock_url}/mock/requests").json())


async def _failing(_: Any) -> AsyncIterator[str]:
    yield "partial "
    yield "answer"
    raise ValueError("secret internal detail")


def test_an_exception_in_the_runnable_is_an_in_band_error_keeping_partial_output(
    serve: Serve,
) -> None:
    client = serve([Route("boom", RunnableLambda(_failing))])
    events = collect(client, "boom", {"input": "x"})
    assert [e.event for e in events] == ["run.start", "token", "token", "error", "usage", "run.end"]
    error = events[3].data
    assert error == {
        "code": "internal",
        "message": "the runnable raised ValueError",
        "retryable": False,
    }
    assert events[-1].data["status"] == "failed"
    assert events[-1].data["output"] == "partial answer"
    run_id = events[0].data["run_id"]
    assert client.get(f"/v1/runs/{run_id}").json()["output"] == "partial answer"


async def _chatty(_: Any) -> AsyncIterator[str]:
    for i in range(100):
        yield f"t{i} "


def test_the_event_log_is_bounded_and_the_run_ends_truncated(serve: Serve) -> None:
    client = serve([Route("chatty", RunnableLambda(_chatty))], max_events_per_run=12)
    events = collect(client, "chatty", {"input": "x"})
    assert len(events) == 12
    assert events[-1].data["status"] == "truncated"
    assert events[-3].data["code"] == "budget_exceeded"


def test_stream_lifetime_is_bounded_and_the_client_rejoins(serve: Serve, mock_url: str) -> None:
    route = chat(mock_url, "tokens=30,itl=20")
    client = serve([route], max_stream_seconds=0.25)
    with start_stream(client, "chat", {"input": PROMPT, "on_disconnect": "continue"}) as r:
        first = list(iter_sse(r))
        run_id = r.headers["x-run-id"]
    assert first[-1].event != "run.end"
    rest = rejoin(client, run_id, after=first[-1].id or 0)
    while rest[-1].event != "run.end":
        rest += rejoin(client, run_id, after=rest[-1].id or 0)
    _assert_exactly_once(first, rest, str(route.runnable.invoke(PROMPT).content))


async def _stream_one(client: httpx.AsyncClient, i: int) -> tuple[int, list[str], str]:
    body = {"input": f"stream number {i}"}
    headers = {"Accept": "text/event-stream"}
    events: list[str] = []
    text = ""
    async with client.stream("POST", "/v1/routes/chat/runs", json=body, headers=headers) as r:
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: ") and events and events[-1] == "token":
                text += httpx.Response(200, content=line[6:]).json()["text"]
    return i, events, text


def test_two_hundred_concurrent_streams_all_complete_correctly(serve: Serve, mock_url: str) -> None:
    client = serve([chat(mock_url, "tokens=20,itl=10")])

    async def main() -> list[tuple[int, list[str], str]]:
        limits = httpx.Limits(max_connections=250)
        async with httpx.AsyncClient(base_url=str(client.base_url), limits=limits, timeout=60) as c:
            return await asyncio.gather(*(_stream_one(c, i) for i in range(200)))

    results = asyncio.run(main())
    assert len(results) == 200
    for i, events, text in results:
        assert events[0] == "run.start" and events[-1] == "run.end"
        assert events.count("token") == 20
        assert text.startswith(f"You said: stream number {i}")
