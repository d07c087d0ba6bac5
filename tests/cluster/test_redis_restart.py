"""Redis goes away and comes back empty, under two live replicas.

Each test runs a ``redis-server`` of its own (see :mod:`tests.cluster.private_redis`) and two
gateways on 127.0.0.1 over it. While Redis is away, every front end that looks a run up
answers 503 with ``Retry-After``; once it is back, the owner re-publishes its live runs, so
the other replica finds, follows and cancels them again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.cluster.private_redis import PrivateRedis, redis_server_binary
from tokenwire.routes import Route
from tokenwire.testing import iter_sse

Serve = Callable[..., httpx.Client]


async def _count(payload: Any) -> AsyncIterator[str]:
    n = int(payload.get("n", 30)) if isinstance(payload, dict) else 30
    for i in range(n):
        await asyncio.sleep(float(payload.get("delay", 0.02)))
        yield f"t{i} "


async def _chat(_: str) -> AsyncIterator[str]:
    for i in range(3):
        await asyncio.sleep(0.01)
        yield f"w{i} "


ROUTES = [
    Route("count", RunnableLambda(_count), mode="tokens"),
    Route("chat", RunnableLambda(_chat), mode="tokens"),
]
_TTL = 0.6


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(redis_server_binary(), tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pair(private_redis: PrivateRedis, serve: Serve) -> tuple[httpx.Client, httpx.Client]:
    settings = {"redis_url": private_redis.url, "redis_prefix": "tw", "replica_ttl_seconds": _TTL}
    return serve(ROUTES, **settings), serve(ROUTES, **settings)


def _until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _start(client: httpx.Client, n: int, delay: float = 0.02) -> str:
    body = {"input": {"n": n, "delay": delay}, "on_disconnect": "continue"}
    response = client.post("/v1/routes/count/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def _unavailable(response: httpx.Response) -> bool:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    return True


def test_lookups_while_redis_is_away_answer_503(
    pair: tuple[httpx.Client, httpx.Client], private_redis: PrivateRedis
) -> None:
    from websockets.sync.client import connect

    a, b = pair
    run_id = _start(a, 5000)
    chat = "chat-outage"
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    ui_body = {"id": chat, "messages": [message], "trigger": "submit-message"}
    with a.stream("POST", "/v1/routes/chat/ui-chat", json=ui_body) as started:
        assert started.status_code == 200
        started.read()
    private_redis.stop()
    assert a.get(f"/v1/runs/{run_id}").json()["status"] == "running"  # its own: no Redis
    assert _unavailable(b.get(f"/v1/runs/{run_id}"))
    assert _unavailable(b.get(f"/v1/runs/{run_id}/stream"))
    assert _unavailable(b.post(f"/v1/runs/{run_id}/cancel"))
    assert _unavailable(b.get(f"/v1/routes/chat/ui-chat/{chat}/stream"))
    url = str(b.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    with connect(url) as socket:
        for op in ("resume", "cancel"):
            socket.send(json.dumps({"type": op, "id": op, "run_id": run_id, "after": 0}))
            reply = json.loads(socket.recv(timeout=10))
            assert (reply["type"], reply["op"], reply["status"]) == ("nack", op, 503), reply
            assert reply["retry_after"] >= 1
    private_redis.start()
    assert a.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"


def test_after_a_restart_the_other_replica_finds_follows_and_cancels_live_runs(
    pair: tuple[httpx.Client, httpx.Client], private_redis: PrivateRedis
) -> None:
    a, b = pair
    live = _start(a, 5000)
    ends_later = _start(a, 40, delay=0.02)  # ends while Redis is away or just after
    _until(lambda: b.get(f"/v1/runs/{live}").status_code == 200)
    private_redis.stop()
    time.sleep(0.3)
    private_redis.start()
    # The owner notices the empty Redis and publishes its live runs again.
    _until(lambda: b.get(f"/v1/runs/{live}").status_code == 200)
    assert b.get(f"/v1/runs/{live}").json()["status"] == "running"
    # A run that ended around the restart is re-published with its end, whole.
    _until(lambda: a.get(f"/v1/runs/{ends_later}").json()["status"] == "completed")
    _until(lambda: b.get(f"/v1/runs/{ends_later}").json().get("status") == "completed")
    theirs, mine = b.get(f"/v1/runs/{ends_later}").json(), a.get(f"/v1/runs/{ends_later}").json()
    assert theirs["output"] == mine["output"] == "".join(f"t{i} " for i in range(40))
    assert theirs["last_seq"] == mine["last_seq"]
    # A client rejoining on B reads the whole stream, in order, while it goes on.
    with b.stream("GET", f"/v1/runs/{live}/stream") as response:
        assert response.status_code == 200
        events = []
        for event in iter_sse(response):
            events.append(event)
            if len(events) == 5:
                break
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert [e.event for e in events] == ["run.start", "token", "token", "token", "token"]
    assert b.post(f"/v1/runs/{live}/cancel").json()["status"] == "cancelled"
    assert a.get(f"/v1/runs/{live}").json()["status"] == "cancelled"
