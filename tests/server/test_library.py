"""tokenwire inside an existing FastAPI app: the router plus the gateway's lifespan."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tokenwire import Gateway, Route, Settings, create_router
from tokenwire.demo.routes import demo_model
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect, text_of


def test_router_mounted_in_a_user_app(mock_url: str) -> None:
    # No auth layer, so auth is off on purpose (without it every route would answer 401;
    # tests/security/test_embedding.py installs auth in an app of one's own).
    gateway = Gateway([Route("chat", demo_model(f"{mock_url}/v1"))], Settings(auth="none"))
    app = FastAPI(lifespan=lambda app: gateway.lifespan())
    app.include_router(create_router(gateway), prefix="/ai")

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    with BackgroundServer(app) as server, httpx.Client(base_url=server.url + "/ai") as client:
        assert httpx.get(server.url + "/hello").json() == {"hello": "world"}
        events = collect(client, "chat", {"input": "mounted"})
        assert text_of(events) == "You said: mounted"
        assert client.get("/healthz").status_code == 200
