from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tokenwire.mock import create_mock_app
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.settings import Settings


@pytest.fixture(scope="session")
def mock_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_mock_app()) as server:
        yield server


@pytest.fixture
def mock_url(mock_server: BackgroundServer) -> Iterator[str]:
    httpx.delete(f"{mock_server.url}/mock/requests")
    yield mock_server.url


@pytest.fixture
def serve() -> Iterator[Callable[..., httpx.Client]]:
    """``serve(routes, **settings)`` → an httpx client on a live gateway on 127.0.0.1."""
    servers: list[BackgroundServer] = []
    clients: list[httpx.Client] = []

    def start(routes: Any, **settings: Any) -> httpx.Client:
        app = create_app(routes, Settings(**settings))
        server = BackgroundServer(app).start()
        servers.append(server)
        client = httpx.Client(base_url=server.url, timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()
