"""Real Redis for the scale-out tests: ``TOKENWIRE_TEST_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``), each test under a fresh key prefix. Without Redis these
tests skip — except on CI (``CI=true``), where they fail."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from langchain_core.runnables import RunnableLambda

from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.settings import Settings

REDIS_URL = os.environ.get("TOKENWIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is required on CI: {exc!r}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc!r}")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    prefix = f"tw-test-{secrets.token_hex(6)}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


Make = Callable[..., Awaitable[list[Gateway]]]


async def _count(payload: dict[str, Any]) -> AsyncIterator[str]:
    for i in range(int(payload.get("n", 30))):
        await asyncio.sleep(float(payload.get("delay", 0.02)))
        yield f"t{i} "


ROUTES = [Route("count", RunnableLambda(_count), mode="tokens")]


@pytest.fixture
async def gateways(prefix: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Make]:
    """``await gateways(n, **settings)``: n in-process gateways (replicas) over one Redis."""
    made: list[Gateway] = []

    async def make(n: int = 2, **settings: Any) -> list[Gateway]:
        for _ in range(n):
            gateway = Gateway(
                ROUTES,
                Settings(
                    redis_url=redis_url, redis_prefix=prefix, data_dir=str(tmp_path), **settings
                ),
            )
            await gateway.start()
            made.append(gateway)
        return made

    yield make
    for gateway in made:
        await gateway.aclose()
