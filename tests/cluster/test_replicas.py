"""Two replicas sharing one Redis: a client can rejoin, read or cancel a run on either.

Each test runs two gateways (two servers on 127.0.0.1) over the real Redis at
``TOKENWIRE_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) under a fresh key
prefix. Without Redis these tests skip — except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda
from pydantic import SecretStr

from tests.redis_client import sync_redis
from tokenwire.broker.redis import decode_events
from tokenwire.routes import Route
from tokenwire.testing import SSE, iter_sse, start_stream

Serve = Callable[..., httpx.Client]


async def _count(payload: Any) -> AsyncIterator[str]:
    n = int(payload.get("n", 30)) if isinstance(payload, dict) else 30
    delay = float(payload.get("delay", 0.02)) if isinstance(payload, dict) else 0.02
    for i in range(n):
        await asyncio.sleep(delay)
        yield f"t{i} "


async def _chat(_: str) -> AsyncIterator[str]:
    for i in range(30):
        await asyncio.sleep(0.01)
        yield f"w{i} "


ROUTES = [
    Route("count", RunnableLambda(_count), mode="tokens"),
    Route("chat", RunnableLambda(_chat), mode="tokens"),
]


@pytest.fixture
def replicas(prefix: str, redis_url: str, serve: Serve) -> Callable[..., list[httpx.Client]]:
    def start(n: int = 2, **settings: Any) -> list[httpx.Client]:
        settings = {"redis_url": redis_url, "redis_prefix": prefix, **settings}
        return [serve(ROUTES, **settings) for _ in range(n)]

    return start


def _events(response: httpx.Response) -> list[SSE]:
    return list(iter_sse(response))


def test_a_run_started_on_one_replica_is_rejoined_on_another(replicas: Any) -> None:
    a, b = replicas(2)
    seen: list[SSE] = []
    with start_stream(a, "count", {"input": {"n": 40}, "on_disconnect": "continue"}) as r:
        for event in iter_sse(r):
            seen.append(event)
            if event.event == "token" and len(seen) >= 5:
                break
    run_id = seen[0].data["run_id"]
    cursor = seen[-1].id
    assert cursor is not None
    with b.stream("GET", f"/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(cursor)}) as r:
        assert r.status_code == 200
        rest = _events(r)
    assert [e.id for e in rest] == list(range(cursor + 1, cursor + 1 + len(rest)))
    assert rest[-1].event == "run.end" and rest[-1].data["status"] == "completed"
    text = "".join(e.data["text"] for e in seen + rest if e.event == "token")
    assert text == "".join(f"t{i} " for i in range(40))


def _first_events(client: httpx.Client, body: dict[str, Any], tokens: int) -> list[SSE]:
    """Start a run on ``client`` and leave after ``tokens`` token events."""
    seen: list[SSE] = []
    with start_stream(client, "count", body) as response:
        for event in iter_sse(response):
            seen.append(event)
            if event.event == "token" and sum(e.event == "token" for e in seen) >= tokens:
                break
    return seen


def _wait_for(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_cancel_on_another_replica_stops_the_run_where_it_runs(replicas: Any) -> None:
    a, b = replicas(2)
    run_id = a.post("/v1/routes/count/runs", json={"input": {"n": 500}}).json()["run_id"]
    _wait_for(lambda: bool(a.get(f"/v1/runs/{run_id}").json()["output"]))
    snapshot = b.post(f"/v1/runs/{run_id}/cancel", json={"reason": "moderator"}).json()
    assert snapshot["status"] == "cancelled"
    owner = a.get(f"/v1/runs/{run_id}").json()
    assert owner["status"] == "cancelled"
    assert owner["error"]["message"] == "run cancelled: moderator"
    assert len(owner["output"]) < len("".join(f"t{i} " for i in range(500)))


def test_snapshots_agree_on_both_replicas(replicas: Any) -> None:
    a, b = replicas(2)
    run_id = a.post("/v1/routes/count/runs", json={"input": {"n": 20, "delay": 0.01}}).json()[
        "run_id"
    ]
    live = b.get(f"/v1/runs/{run_id}").json()
    assert live["route"] == "count" and live["run_id"] == run_id
    _wait_for(lambda: a.get(f"/v1/runs/{run_id}").json()["status"] == "completed")
    _wait_for(lambda: b.get(f"/v1/runs/{run_id}").json()["status"] == "completed")
    mine, theirs = a.get(f"/v1/runs/{run_id}").json(), b.get(f"/v1/runs/{run_id}").json()
    for field in ("status", "output", "usage", "finish_reason", "last_seq", "trace_id"):
        assert theirs[field] == mine[field], field
    assert b.get("/v1/runs/0123456789abcdef/stream").status_code == 404


def test_a_subscriber_on_another_replica_keeps_the_run_alive(replicas: Any) -> None:
    """``on_disconnect=cancel``: the client leaves replica A and rejoins on B within the grace
    period; A must count B's subscriber, or it would cancel the run under the client."""
    a, b = replicas(2, disconnect_grace_seconds=0.3)
    seen = _first_events(a, {"input": {"n": 60, "delay": 0.02}}, tokens=3)
    run_id, cursor = seen[0].data["run_id"], seen[-1].id
    with b.stream("GET", f"/v1/runs/{run_id}/stream?after={cursor}") as response:
        rest = _events(response)
    assert rest[-1].event == "run.end"
    assert rest[-1].data["status"] == "completed", rest[-1].data


def test_the_last_subscriber_leaving_another_replica_cancels_after_the_grace(
    replicas: Any,
) -> None:
    a, b = replicas(2, disconnect_grace_seconds=0.2)
    run_id = a.post(
        "/v1/routes/count/runs", json={"input": {"n": 1000}, "on_disconnect": "cancel"}
    ).json()["run_id"]
    with b.stream("GET", f"/v1/runs/{run_id}/stream") as response:
        for event in iter_sse(response):
            if event.event == "token":
                break
    _wait_for(lambda: a.get(f"/v1/runs/{run_id}").json()["status"] == "cancelled")
    assert a.get(f"/v1/runs/{run_id}").json()["error"]["message"].endswith("client disconnected")


def test_a_run_whose_replica_died_ends_incomplete_on_the_survivor(
    replicas: Any, redis_url: str, prefix: str
) -> None:
    """A replica that crashed stops beating; the survivors' sweeper ends its live runs with
    ``incomplete_stream`` — exactly once, after the last event that reached Redis."""
    client = sync_redis(redis_url)
    run_id = secrets.token_hex(16)
    client.hset(
        f"{prefix}:run:{run_id}",
        mapping={
            "route": "count",
            "owner": "anonymous",
            "replica": "crashed-replica",
            "status": "running",
            "trace_id": "0" * 32,
            "created_at": repr(time.time()),
            "on_disconnect": "continue",
            "metadata": "{}",
        },
    )
    written = [
        ("run.start", {"run_id": run_id}),
        ("token", {"text": "half an "}),
        ("token", {"text": "answ"}),
    ]
    for seq, (type, data) in enumerate(written, start=1):
        client.xadd(f"{prefix}:log:{run_id}", {"e": json.dumps([[type, data]])}, id=f"{seq}-0")
    client.sadd(f"{prefix}:live", run_id)
    a, b = replicas(2, replica_ttl_seconds=0.4)
    with b.stream("GET", f"/v1/runs/{run_id}/stream") as response:
        events = _events(response)
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert [e.event for e in events[-2:]] == ["error", "run.end"]
    assert events[-2].data["code"] == "incomplete_stream" and events[-2].data["retryable"]
    assert events[-1].data["status"] == "failed"
    assert events[-1].data["output"] == "half an answ"
    assert not client.sismember(f"{prefix}:live", run_id)
    assert client.xlen(f"{prefix}:log:{run_id}") == 4  # ended once (one entry), by one sweeper
    assert 0 < client.pttl(f"{prefix}:log:{run_id}") <= 600_000
    assert a.get(f"/v1/runs/{run_id}").json()["status"] == "failed"


def test_a_finished_run_leaves_redis_with_its_retention(
    replicas: Any, redis_url: str, prefix: str
) -> None:
    (a,) = replicas(1, retention_seconds=30)
    with start_stream(a, "count", {"input": {"n": 3, "delay": 0}}) as response:
        events = _events(response)
    run_id = events[0].data["run_id"]
    client = sync_redis(redis_url)

    def settled() -> bool:
        return not client.sismember(f"{prefix}:live", run_id)

    _wait_for(settled)
    for key in (f"{prefix}:log:{run_id}", f"{prefix}:run:{run_id}"):
        assert 0 < client.pttl(key) <= 30_000, key
    mirrored = [
        event
        for entry_id, fields in client.xrange(f"{prefix}:log:{run_id}")
        for event in decode_events(entry_id, fields)
    ]
    assert [(e.seq, e.type, e.data) for e in mirrored] == [(e.id, e.event, e.data) for e in events]
    assert client.hget(f"{prefix}:run:{run_id}", "status") == b"completed"


def test_a_websocket_resumes_and_cancels_another_replicas_run(replicas: Any) -> None:
    from websockets.sync.client import connect

    a, b = replicas(2)
    first = a.post("/v1/routes/count/runs", json={"input": {"n": 20, "delay": 0.01}}).json()
    other = a.post("/v1/routes/count/runs", json={"input": {"n": 1000}}).json()
    url = str(b.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    with connect(url) as socket:

        def reply(**message: Any) -> dict[str, Any]:
            socket.send(json.dumps(message))
            while True:
                answer = json.loads(socket.recv(timeout=10))
                if "seq" not in answer:
                    return dict(answer)

        assert reply(type="resume", run_id=first["run_id"], after=0)["type"] == "ack"
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] != "run.end":
            message = json.loads(socket.recv(timeout=10))
            if message.get("run_id") == first["run_id"] and "seq" in message:
                events.append(message)
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert "".join(e["data"]["text"] for e in events if e["type"] == "token") == "".join(
            f"t{i} " for i in range(20)
        )
        key = f"ws-{secrets.token_hex(4)}"
        held = a.post(
            "/v1/routes/count/runs", json={"input": {"n": 5}}, headers={"Idempotency-Key": key}
        ).json()
        started = reply(type="start", route="count", input={"n": 5}, idempotency_key=key)
        assert (started["run_id"], started["created"]) == (held["run_id"], False)
        assert reply(type="cancel", run_id=other["run_id"])["cancelled"] is True
        assert reply(type="resume", run_id="0" * 32, after=0)["status"] == 404
    _wait_for(lambda: a.get(f"/v1/runs/{other['run_id']}").json()["status"] == "cancelled")


def test_an_idempotency_key_starts_one_run_across_replicas(replicas: Any) -> None:
    a, b = replicas(2)
    body = {"input": {"n": 10, "delay": 0.01}}
    key = {"Idempotency-Key": f"retry-{secrets.token_hex(4)}"}
    first = a.post("/v1/routes/count/runs", json=body, headers=key)
    assert first.status_code == 202
    run_id = first.json()["run_id"]
    again = b.post("/v1/routes/count/runs", json=body, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["run_id"] == run_id
    with start_stream(b, "count", body, **key) as response:  # a streaming retry replays it
        events = _events(response)
    assert events[0].data["run_id"] == run_id and events[-1].event == "run.end"
    changed = b.post("/v1/routes/count/runs", json={"input": {"n": 11}}, headers=key)
    assert changed.status_code == 422 and "Idempotency-Key" in changed.json()["title"]
    other_key = {"Idempotency-Key": f"other-{secrets.token_hex(4)}"}
    assert b.post("/v1/routes/count/runs", json=body, headers=other_key).json()["run_id"] != run_id


def test_rate_limits_count_every_replica(
    redis_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tokenwire.config import Settings
    from tokenwire.security.credentials import ApiKey, Credentials, hash_key
    from tokenwire.server.app import create_app
    from tokenwire.server.background import BackgroundServer

    secret, thrifty = "sk-bob-secret", "sk-thrifty"
    credentials = Credentials(
        keys=[
            ApiKey("bob", hash_key(secret), requests_per_minute=3, concurrent_streams=1),
            ApiKey("thrifty", hash_key(thrifty), token_budget=10),
        ]
    )
    settings = Settings(redis_url=SecretStr(redis_url), redis_prefix=prefix)
    headers = {"Authorization": f"Bearer {secret}"}
    apps = [
        create_app(
            ROUTES,
            settings.replace(data_dir=str(tmp_path_factory.mktemp("data"))),
            credentials=credentials,
        )
        for _ in range(2)
    ]
    with BackgroundServer(apps[0]) as a, BackgroundServer(apps[1]) as b:
        first = httpx.post(
            f"{a.url}/v1/routes/count/runs", json={"input": {"n": 1000}}, headers=headers
        )
        assert first.status_code == 202
        # One concurrent stream for bob, wherever it runs.
        second = httpx.post(f"{b.url}/v1/routes/count/runs", json={"input": {}}, headers=headers)
        assert second.status_code == 429 and "concurrent" in second.json()["detail"]
        run = first.json()["run_id"]
        assert httpx.get(f"{b.url}/v1/runs/{run}", headers=headers).status_code == 200
        # Three requests a minute in all: this is the fourth, on the first replica.
        fourth = httpx.get(f"{a.url}/v1/runs/{run}", headers=headers)
        assert fourth.status_code == 429 and "requests per minute" in fourth.json()["detail"]
        assert int(fourth.headers["retry-after"]) >= 1
        # A token budget spent on one replica is spent on the other.
        spend = {"Authorization": f"Bearer {thrifty}"}
        with httpx.stream(
            "POST",
            f"{a.url}/v1/routes/count/runs",
            json={"input": {"n": 30, "delay": 0}},
            headers={**spend, "Accept": "text/event-stream"},
        ) as response:
            ended = list(iter_sse(response))[-1]
        assert ended.event == "run.end" and ended.data["status"] == "truncated"

        def refused() -> bool:
            again = httpx.post(f"{b.url}/v1/routes/count/runs", json={"input": {}}, headers=spend)
            return again.status_code == 429 and "token budget" in again.json()["detail"]

        _wait_for(refused)


def _ui_chat(chat: str) -> dict[str, Any]:
    """An AI SDK ``useChat`` request body: one user message."""
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    return {"id": chat, "messages": [message], "trigger": "submit-message"}


def test_an_ai_sdk_chat_resumes_on_another_replica(replicas: Any) -> None:
    a, b = replicas(2)
    chat = f"chat-{secrets.token_hex(4)}"
    body = _ui_chat(chat)
    with a.stream("POST", "/v1/routes/chat/ui-chat", json=body) as started:
        lines = started.iter_lines()
        while "text-delta" not in next(lines):
            pass
        with b.stream("GET", f"/v1/routes/chat/ui-chat/{chat}/stream") as resumed:
            assert resumed.status_code == 200
            assert resumed.headers["x-run-id"] == started.headers["x-run-id"]
            replay = [line for line in resumed.iter_lines() if line.startswith("data: ")]
    deltas = [json.loads(line[6:]) for line in replay if line != "data: [DONE]"]
    text = "".join(d["delta"] for d in deltas if d.get("type") == "text-delta")
    assert text == "".join(f"w{i} " for i in range(30))
    assert replay[-1] == "data: [DONE]"
    assert b.get(f"/v1/routes/chat/ui-chat/{chat}/stream").status_code == 204  # it ended


def test_an_ai_sdk_resume_finds_the_latest_turn_wherever_it_ran(replicas: Any) -> None:
    a, b = replicas(2)
    chat = f"chat-{secrets.token_hex(4)}"
    body = _ui_chat(chat)
    with a.stream("POST", "/v1/routes/chat/ui-chat", json=body) as first:
        first.read()  # turn 1 on A, to its end: A remembers it locally
    with b.stream("POST", "/v1/routes/chat/ui-chat", json=body) as second:
        lines = second.iter_lines()
        while "text-delta" not in next(lines):
            pass
        with a.stream("GET", f"/v1/routes/chat/ui-chat/{chat}/stream") as resumed:
            assert resumed.status_code == 200  # not A's own, finished turn 1
            assert resumed.headers["x-run-id"] == second.headers["x-run-id"]
