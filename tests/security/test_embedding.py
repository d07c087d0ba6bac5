"""A gateway mounted in an app of one's own fails closed: without tokenwire's auth installed
every route but the probes refuses (401) and nothing runs — unless the gateway's settings
say ``auth = "none"``. ``install_auth`` adds the same auth ``create_app`` has."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI

from tests.security.conftest import KEYS, keys
from tokenwire import Gateway, Route, Settings, create_router, install_auth
from tokenwire.demo.routes import demo_model
from tokenwire.security.credentials import Credentials
from tokenwire.server.audit_api import create_audit_router
from tokenwire.server.background import BackgroundServer
from tokenwire.server.console_api import create_console_router
from tokenwire.server.protocols_api import create_protocol_routers
from tokenwire.server.ui_api import create_ui_router

#: One request per kind of route an embedding app may mount.
REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/routes/chat/runs", {"input": "x"}),
    ("GET", "/v1/runs/0123456789abcdef0123456789abcdef", None),
    ("GET", "/v1/runs/0123456789abcdef0123456789abcdef/stream", None),
    ("POST", "/v1/runs/0123456789abcdef0123456789abcdef/cancel", None),
    ("GET", "/v1/models", None),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "chat", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("POST", "/langserve/chat/invoke", {"input": "x"}),
    ("GET", "/langserve/chat/input_schema", None),
    ("POST", "/v1/routes/chat/ui-chat", {"id": "c", "messages": [{"role": "user", "parts": []}]}),
    ("GET", "/v1/routes/chat/ui-chat/c/stream", None),
    ("GET", "/v1/audit/records", None),
    ("GET", "/v1/runs", None),
    ("GET", "/v1/telemetry/summary", None),
    ("GET", "/v1/routes", None),
]


def _embedded(gateway: Gateway) -> FastAPI:
    app = FastAPI(lifespan=lambda app: gateway.lifespan())
    app.include_router(create_router(gateway))
    for router in create_protocol_routers(gateway):
        app.include_router(router)
    for make in (create_audit_router, create_console_router, create_ui_router):
        app.include_router(make(gateway))
    return app


@pytest.fixture
def embed(mock_url: str, tmp_path: Any) -> Iterator[Any]:
    servers: list[BackgroundServer] = []

    def start(settings: Settings, credentials: Credentials | None = None) -> tuple[str, Gateway]:
        route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=10"))
        settings = settings.replace(data_dir=str(tmp_path))
        gateway = Gateway([route], settings, credentials=credentials)
        app = _embedded(gateway)
        if credentials is not None:
            install_auth(app, gateway)
        servers.append(BackgroundServer(app).start())
        return servers[-1].url, gateway

    yield start
    for server in servers:
        server.stop()


def _socket_refused(url: str) -> bool:
    async def connect() -> bool:
        try:
            async with websockets.connect(url.replace("http://", "ws://") + "/v1/ws"):
                return False
        except websockets.InvalidStatus as refused:
            return refused.response.status_code == 403

    return asyncio.run(connect())


def test_an_embedded_gateway_without_auth_refuses_everything_but_the_probes(embed: Any) -> None:
    url, gateway = embed(Settings())
    with httpx.Client(base_url=url) as anyone:
        for method, path, body in REQUESTS:
            response = anyone.request(method, path, json=body)
            assert response.status_code == 401, (path, response.text)
            assert "auth" in response.json()["detail"], response.json()
        streaming = anyone.post(
            "/v1/routes/chat/runs", json={"input": "x"}, headers={"Accept": "text/event-stream"}
        )
        assert streaming.status_code == 401
        assert _socket_refused(url)
        assert anyone.get("/healthz").status_code == 200
        assert anyone.get("/readyz").status_code == 200
    assert not list(gateway.registry.live())


def test_an_embedded_gateway_with_auth_none_serves_everyone(embed: Any) -> None:
    url, _ = embed(Settings(auth="none"))
    with httpx.Client(base_url=url) as anyone:
        started = anyone.post("/v1/routes/chat/runs", json={"input": "x"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert anyone.get(f"/v1/runs/{run_id}").status_code == 200
        assert anyone.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"
        assert anyone.get("/v1/runs").status_code == 200


def test_install_auth_protects_an_embedded_gateway_as_create_app_does(embed: Any) -> None:
    url, _ = embed(Settings(), Credentials(keys=keys(bob={"concurrent_streams": 1})))
    assert httpx.post(f"{url}/v1/routes/chat/runs", json={"input": "x"}).status_code == 401
    headers = {"Authorization": f"Bearer {KEYS['bob']}"}
    with httpx.Client(base_url=url, headers=headers) as bob:
        started = bob.post("/v1/routes/chat/runs", json={"input": "x"})
        assert started.status_code == 202, started.text
        assert bob.get("/v1/runs").status_code == 403  # moderators only
        # The run-start limits are installed too.
        assert bob.post("/v1/routes/chat/runs", json={"input": "y"}).status_code == 429
        bob.post(f"/v1/runs/{started.json()['run_id']}/cancel")
