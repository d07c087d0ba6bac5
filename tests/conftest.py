from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from psycopg import sql

from tests.actions.crm import Crm
from tests.postgres import POSTGRES_URL, pg_admin
from tests.redis_client import sync_redis
from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.mock import create_mock_app
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import serve as serve_kit

#: Real Redis for the scale-out tests, each test under a fresh key prefix. Without Redis
#: those tests skip — except on CI (``CI=true``), where they fail.
#: Fixtures that start or reach something live (a server, Redis, PostgreSQL): a test using
#: any of them, directly or through another fixture, is ``integration``.
LIVE_FIXTURES = frozenset(
    {
        *("serve", "live", "gateway_url", "gateways", "start_gateway", "mock_server", "mock_url"),
        "crm",
        *("redis_url", "prefix", "postgres", "checkpoint_postgres", "browser", "read_ui_stream"),
        "ledger",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is ``unit`` or ``integration``, told from what it uses rather than marked
    by hand: live fixtures, or a module that starts servers, processes or a browser itself.
    ``pytest -m unit`` (``make test-fast``) is the inner loop."""
    for item in items:
        live = bool(LIVE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        integration = live or _starts_things(item)
        item.add_marker(pytest.mark.integration if integration else pytest.mark.unit)


def _starts_things(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    names = vars(module).values() if module is not None else ()
    starters = (BackgroundServer, subprocess, serve_kit)
    return any(any(value is starter for starter in starters) for value in names)


@pytest.fixture(scope="session")
def checkpoint_postgres() -> str:
    """The PostgreSQL URL (``tests.postgres``), or a skip — a failure on CI — without one."""
    try:
        pg_admin(sql.SQL("SELECT 1"))
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required on CI: {exc!r}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc!r}")
    return POSTGRES_URL


REDIS_URL = os.environ.get("TOKENWIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        sync_redis(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is required on CI: {exc!r}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc!r}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"tw-test-{secrets.token_hex(6)}"
    yield prefix
    client = sync_redis(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def mock_server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_mock_app()) as server:
        yield server


@pytest.fixture
def mock_url(mock_server: BackgroundServer) -> Iterator[str]:
    httpx.delete(f"{mock_server.url}/mock/requests")
    yield mock_server.url


@pytest.fixture(scope="session", autouse=True)
def _data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The audit trail is on by default (``create_app``, ``tokenwire serve``/``demo``) and
    writes under ``data_dir``: keep every test's — subprocesses' too — out of the repo."""
    path = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TOKENWIRE_DATA_DIR", str(path))
        yield path


@pytest.fixture
def crm() -> Iterator[tuple[Crm, str]]:
    """A counting system of record (``tests/actions/crm.py``) on 127.0.0.1, and its URL."""
    crm = Crm()
    with BackgroundServer(crm.app) as server:
        yield crm, server.url


@pytest.fixture
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., httpx.Client]]:
    """``serve(routes, **settings)`` → an httpx client on a live gateway on 127.0.0.1
    (its audit store in a fresh temporary ``data_dir`` unless one is given); ``serve(
    gateway)`` serves a gateway the test built."""
    servers: list[BackgroundServer] = []
    clients: list[httpx.Client] = []

    def start(routes: Any, **settings: Any) -> httpx.Client:
        if isinstance(routes, Gateway):  # built by the test: served as it is
            app, gateway_settings = create_app(routes), routes.settings
        else:
            settings.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
            settings.setdefault("auth", "none")  # the auth tests configure keys themselves
            gateway_settings = Settings(**settings)
            app = create_app(routes, gateway_settings)
        server = BackgroundServer(app, settings=gateway_settings).start()
        servers.append(server)
        client = httpx.Client(base_url=server.url, timeout=30)
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()
