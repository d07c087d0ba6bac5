"""A live gateway with two API keys and a JWT secret, and clients that authenticate as
either kind of caller."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

KEYS = {"alice": "sk-alice-secret", "bob": "sk-bob-secret", "mod": "sk-mod-secret"}
JWT_SECRET = "jwt-test-secret-of-at-least-32-bytes!!"

#: ``start(keys=..., credentials=..., **settings)`` → the base URL of a live gateway whose
#: one route ``chat`` streams 200 tokens over about two seconds.
StartGateway = Callable[..., str]


def token(sub: Any = "alice", **claims: Any) -> str:
    """An HS256 JWT signed with ``JWT_SECRET``, valid for a minute unless ``exp`` is given."""
    body = {"sub": sub, "exp": time.time() + 60, **claims}
    return jwt.encode(body, JWT_SECRET, algorithm="HS256")


def as_key(url: str, alias: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEYS[alias]}"})


def as_jwt(url: str, sub: str, **claims: Any) -> httpx.Client:
    bearer = {"Authorization": f"Bearer {token(sub, **claims)}"}
    return httpx.Client(base_url=url, headers=bearer)


def keys(**limits: dict[str, Any]) -> list[ApiKey]:
    """``alice`` and ``bob`` (clients) and ``mod`` (moderator), each with ``limits[alias]``."""
    roles = {"mod": ["moderator"]}
    return [
        ApiKey.from_config(
            {"alias": alias, "key": secret, "roles": roles.get(alias, ["client"])}
            | limits.get(alias, {})
        )
        for alias, secret in KEYS.items()
    ]


@pytest.fixture
def start_gateway(mock_url: str, tmp_path: Any) -> Iterator[StartGateway]:
    servers: list[BackgroundServer] = []

    def start(
        *,
        credentials: Credentials | None = None,
        limits: dict[str, Any] | None = None,
        **settings: Any,
    ) -> str:
        credentials = credentials or Credentials(keys=keys(**(limits or {})), jwt_secret=JWT_SECRET)
        route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=10"))
        settings.setdefault("data_dir", str(tmp_path))
        app = create_app([route], Settings(**settings), credentials=credentials)
        servers.append(BackgroundServer(app).start())
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()
