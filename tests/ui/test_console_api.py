"""The console and telemetry API (no browser): live runs, halting with a reason, summaries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tokenwire.testing import collect, iter_sse

Demo = Callable[..., httpx.Client]


def _wait(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _start(client: httpx.Client, text: str = "a long story", **metadata: str) -> str:
    body = {"input": text, "metadata": metadata}
    run_id: str = client.post("/v1/routes/chat/runs", json=body).json()["run_id"]
    return run_id


def test_live_runs_list_tokens_subscribers_and_key_alias(demo: Demo) -> None:
    client = demo("itl=40,tokens=300")
    # The alias comes from the caller's key, never from the request body.
    run_id = _start(client, key_alias="spoofed")
    _wait(lambda: client.get("/v1/runs").json()["runs"][0]["tokens"] >= 3)
    (row,) = client.get("/v1/runs", params={"status": "running"}).json()["runs"]
    assert row["run_id"] == run_id
    assert row["route"] == "chat"
    assert row["status"] == "running"
    assert row["key_alias"] == "anonymous"  # auth is off here; test_auth.py has real keys
    assert row["subscribers"] == 0
    assert row["age_s"] > 0
    first = row["tokens"]
    _wait(lambda: client.get("/v1/runs").json()["runs"][0]["tokens"] > first)

    with client.stream("GET", f"/v1/runs/{run_id}/stream") as response:
        # Keep the iterator referenced: a collected one closes the connection.
        lines = response.iter_lines()
        next(lines)
        assert client.get("/v1/runs").json()["runs"][0]["subscribers"] == 1
    client.post(f"/v1/runs/{run_id}/cancel")
    assert client.get("/v1/runs").json()["runs"] == []
    (ended,) = client.get("/v1/runs", params={"status": "cancelled"}).json()["runs"]
    assert ended["run_id"] == run_id
    assert [r["run_id"] for r in client.get("/v1/runs?status=all").json()["runs"]] == [run_id]


def test_runs_list_refuses_an_unknown_status(demo: Demo) -> None:
    response = demo().get("/v1/runs", params={"status": "sleeping"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "running" in response.json()["detail"]


def test_halt_reason_reaches_every_subscriber(demo: Demo) -> None:
    client = demo("itl=40,tokens=300")
    run_id = _start(client)
    _wait(lambda: client.get(f"/v1/runs/{run_id}").json()["last_seq"] > 3)
    reason = {"reason": "  halted by\na moderator "}
    response = client.post(f"/v1/runs/{run_id}/cancel", json=reason)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    with client.stream("GET", f"/v1/runs/{run_id}/stream") as stream:
        events = list(iter_sse(stream))
    error = next(e for e in events if e.event == "error")
    assert error.data["code"] == "cancelled"
    assert error.data["message"] == "run cancelled: halted by a moderator"
    assert events[-1].data["status"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 200, "run cancelled: cancelled by request"),
        (b"{}", 200, "run cancelled: cancelled by request"),
        (b'{"reason": "x' + b"y" * 300 + b'"}', 200, "run cancelled: x" + "y" * 199),
        (b'{"reason": 7}', 422, None),
        (b'{"reason": "  "}', 422, None),
        (b"not json", 422, None),
        (b"[1]", 422, None),
    ],
)
def test_cancel_body(demo: Demo, body: bytes, status: int, message: str | None) -> None:
    client = demo("itl=40,tokens=300")
    run_id = _start(client)
    response = client.post(f"/v1/runs/{run_id}/cancel", content=body)
    assert response.status_code == status
    if message is None:
        assert response.headers["content-type"] == "application/problem+json"
        assert client.get(f"/v1/runs/{run_id}").json()["status"] == "running"
        client.post(f"/v1/runs/{run_id}/cancel")
    else:
        assert response.json()["error"]["message"] == message


def _settled(client: httpx.Client, runs: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}

    def done() -> bool:
        nonlocal summary
        summary = client.get("/v1/telemetry/summary", params={"window": 60, "bucket": 1}).json()
        return bool(summary["totals"]["runs"] == runs)

    _wait(done)
    return summary


def test_summary_aggregates_recent_runs(demo: Demo) -> None:
    client = demo("itl=10,tokens=20")
    empty = client.get("/v1/telemetry/summary", params={"window": 60, "bucket": 1}).json()
    assert empty["totals"]["runs"] == 0
    assert empty["totals"]["ttft_p50_ms"] is None
    assert len(empty["series"]["t"]) == 60
    assert set(empty["series"]["ttft_p50_ms"]) == {None}

    for i in range(3):
        collect(client, "chat", {"input": f"question {i}"})
    collect(client, "rag", {"input": "How does resuming with Last-Event-ID work?"})
    client.post(f"/v1/runs/{_start(client)}/cancel")
    summary = _settled(client, 5)

    totals = summary["totals"]
    # A cancel request is a cancellation, not an error.
    assert (totals["errors"], totals["error_rate"], totals["cancellations"]) == (0, 0.0, 1)
    assert summary["errors_by_code"] == {}
    assert totals["ttft_p50_ms"] > 0 and totals["ttft_p95_ms"] >= totals["ttft_p50_ms"]
    # Aggregated, not measured here: the figures' accuracy is the recorder's and the
    # benchmarks' subject (wall-clock bounds break on a loaded CI machine).
    assert totals["itl_p50_ms"] > 0
    assert totals["tokens_per_s"] > 0
    series = summary["series"]
    assert sum(series["runs"]) == 5
    assert any(v is not None for v in series["ttft_p95_ms"])
    assert series["error_rate_by_code"] == {} and sum(series["cancellations"]) == 1
    rows = {(r["route"], r["runs"]) for r in summary["cost_by_route_model"]}
    assert rows == {("chat", 4), ("rag", 1)}
    assert summary["active"] == {"total": 0, "by_route": {}}


def test_summary_rejects_a_bad_window(demo: Demo) -> None:
    client = demo()
    for params in ({"window": 10, "bucket": 20}, {"bucket": 0}, {"window": 7200, "bucket": 1}):
        response = client.get("/v1/telemetry/summary", params=params)
        assert response.status_code == 422, params


def test_telemetry_stream_pushes_a_summary_when_a_run_ends(demo: Demo) -> None:
    client = demo("itl=5,tokens=5")
    # The next timed push is 60 s away, past the client's 30 s read timeout: a summary that
    # arrives at all was pushed by the run ending.
    params = {"window": 60, "bucket": 1, "interval": 60}
    with client.stream("GET", "/v1/telemetry/stream", params=params) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = iter_sse(response)
        first = next(events)
        assert first.event == "summary"
        assert first.data["totals"]["runs"] == 0
        collect(client, "chat", {"input": "hello"})
        pushed = next(e for e in events if e.data["totals"]["runs"] == 1)
        assert pushed.data["version"] > first.data["version"]


def test_ui_pages_are_served_with_a_strict_content_security_policy(demo: Demo) -> None:
    client = demo()
    redirect = client.get("/ui", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/ui/"
    for path in ("/ui/", "/ui/dashboard.html", "/ui/console.html"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script" in page.text and "http" not in page.text.split("<body")[0]
    for asset in ("/ui/app.css", "/ui/js/sse.js", "/ui/vendor/uPlot.iife.min.js"):
        assert client.get(asset).status_code == 200, asset


def test_route_list_says_how_to_shape_input(demo: Demo) -> None:
    routes = demo().get("/v1/routes").json()["routes"]
    assert {r["name"]: r["input"] for r in routes} == {
        "chat": "chat",
        "rag": "text",
        "agent": "messages",
    }
    assert all(r["description"] for r in routes)
    # The agent is a LangGraph graph: the playground runs it on a thread.
    assert {r["name"]: r["threads"] for r in routes} == {"chat": False, "rag": False, "agent": True}


def test_summary_json_is_plain(demo: Demo) -> None:
    # The dashboard parses it with JSON.parse: no NaN or Infinity may slip in.
    client = demo("itl=5,tokens=3")
    collect(client, "chat", {"input": "hi"})
    raw = _settled(client, 1)
    json.loads(json.dumps(raw, allow_nan=False))
