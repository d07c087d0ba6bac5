"""Per-key limits on run starts hold on every protocol, and under simultaneous starts.

A key with one concurrent stream holds it with a long run; then every way of starting a
run — native, OpenAI, LangServe (stream and batch), AI SDK, WebSocket — is refused with
429 and a ``Retry-After``, and nothing more runs. Twenty simultaneous starts of a fresh
key with two slots start exactly two runs. Each test runs on one gateway in memory and on
one sharing its runs through Redis (where the live count comes from Redis).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

ONE = {"Authorization": "Bearer sk-one"}
TWO = {"Authorization": "Bearer sk-two"}
MOD = {"Authorization": "Bearer sk-mod"}


@pytest.fixture(params=["memory", "redis"])
def server(request: pytest.FixtureRequest, mock_url: str, tmp_path: Any) -> Iterator[str]:
    credentials = Credentials(
        keys=[
            ApiKey("one", hash_key("sk-one"), concurrent_streams=1),
            ApiKey(
                "two",
                hash_key("sk-two"),
                concurrent_streams=2,
                tokens_per_minute=10**6,
                token_budget=10**9,
            ),
            ApiKey.from_config({"alias": "mod", "key": "sk-mod", "roles": ["moderator"]}),
        ]
    )
    shared: dict[str, Any] = {}
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        shared = {"redis_url": url, "redis_prefix": request.getfixturevalue("prefix")}
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=400,itl=10"))
    settings = Settings(data_dir=str(tmp_path), **shared)
    app = create_app([route], settings, credentials=credentials)
    with BackgroundServer(app) as running:
        yield running.url


def _runs_of(url: str, alias: str) -> list[dict[str, Any]]:
    runs = httpx.get(f"{url}/v1/runs", params={"status": "all"}, headers=MOD).json()["runs"]
    return [r for r in runs if r["key_alias"] == alias]


_HTTP_STARTS = [
    ("native", "/v1/routes/chat/runs", {"input": "again"}),
    ("openai", "/v1/chat/completions", {"model": "chat", "stream": True,
                                         "messages": [{"role": "user", "content": "again"}]}),
    ("langserve stream", "/langserve/chat/stream", {"input": "again"}),
    ("langserve batch", "/langserve/chat/batch", {"inputs": ["a", "b"]}),
    ("ai sdk", "/v1/routes/chat/ui-chat", {"id": "c1", "messages": [
        {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "again"}]}]}),
]  # fmt: skip


def test_every_protocol_is_refused_past_the_concurrency_limit(server: str) -> None:
    with httpx.Client(base_url=server, headers=ONE, timeout=30) as one:
        holder = one.post("/v1/routes/chat/runs", json={"input": "hold the slot"})
        assert holder.status_code == 202, holder.text
        for name, path, body in _HTTP_STARTS:
            refused = one.post(path, json=body, headers={"Accept": "text/event-stream"})
            assert refused.status_code == 429, (name, refused.text)
            assert int(refused.headers["retry-after"]) >= 1, name
            assert "concurrent" in refused.text, name

    async def over_websocket() -> dict[str, Any]:
        url = server.replace("http://", "ws://") + "/v1/ws?api_key=sk-one"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "id": 1, "route": "chat", "input": "x"}))
            reply: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return reply

    reply = asyncio.run(over_websocket())
    assert reply["type"] == "nack" and reply["status"] == 429, reply
    assert reply["code"] == "rate_limited" and reply["retry_after"] >= 1, reply
    assert [r["run_id"] for r in _runs_of(server, "one")] == [holder.json()["run_id"]]


def test_simultaneous_starts_never_exceed_the_limit(server: str) -> None:
    async def start_many() -> list[int]:
        async with httpx.AsyncClient(base_url=server, headers=TWO, timeout=30) as client:
            replies = await asyncio.gather(
                *(client.post("/v1/routes/chat/runs", json={"input": str(n)}) for n in range(20))
            )
        return [r.status_code for r in replies]

    statuses = asyncio.run(start_many())
    assert sorted(statuses) == [202, 202] + [429] * 18, statuses
    assert len(_runs_of(server, "two")) == 2


def test_a_slot_frees_when_its_run_ends(server: str) -> None:
    with httpx.Client(base_url=server, headers=ONE, timeout=30) as one:
        first = one.post("/v1/routes/chat/runs", json={"input": "first"}).json()["run_id"]
        assert one.post("/v1/routes/chat/runs", json={"input": "x"}).status_code == 429
        cancelled = one.post(f"/v1/runs/{first}/cancel")
        assert cancelled.json()["status"] == "cancelled", cancelled.text
        assert one.post("/v1/routes/chat/runs", json={"input": "next"}).status_code == 202


def test_a_start_cancelled_while_admitted_gives_its_slot_back(server: str) -> None:
    """Sockets that close while their start is still being admitted (its token window is
    read from the limiter) must not keep the key's slots."""

    async def abandon_starts() -> None:
        url = server.replace("http://", "ws://") + "/v1/ws?api_key=sk-two"
        for n in range(30):
            ws = await websockets.connect(url)
            await ws.send(json.dumps({"type": "start", "id": n, "route": "chat", "input": "x"}))
            ws.transport.abort()  # gone at once: the start is cancelled mid-admission
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # the server notices every socket went away

    asyncio.run(abandon_starts())
    with httpx.Client(base_url=server, headers=TWO, timeout=30) as two:
        for run in _runs_of(server, "two"):
            httpx.post(f"{server}/v1/runs/{run['run_id']}/cancel", headers=MOD)
        started = [two.post("/v1/routes/chat/runs", json={"input": str(n)}) for n in range(2)]
        assert [r.status_code for r in started] == [202, 202], [r.text for r in started]
