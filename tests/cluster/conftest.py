"""Gateways sharing a real Redis (the ``redis_url`` and ``prefix`` fixtures are in the
top-level conftest)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda
from pydantic import SecretStr

from tokenwire.audit.trail import AuditTrail
from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import Credentials

Make = Callable[..., Awaitable[list[Gateway]]]


async def _count(payload: dict[str, Any]) -> AsyncIterator[str]:
    for i in range(int(payload.get("n", 30))):
        await asyncio.sleep(float(payload.get("delay", 0.02)))
        yield f"t{i} "


ROUTES = [Route("count", RunnableLambda(_count), mode="tokens")]


@pytest.fixture
async def gateways(prefix: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Make]:
    """``await gateways(n, credentials=None, audited=False, **settings)``: n more in-process
    gateways (replicas) over one Redis — ``audited``: sharing one audit database (SQLite in
    ``tmp_path``), and so one action ledger; returns every gateway made so far."""
    made: list[Gateway] = []

    async def make(
        n: int = 2, credentials: Credentials | None = None, audited: bool = False, **settings: Any
    ) -> list[Gateway]:
        for _ in range(n):
            replica_settings = Settings(
                redis_url=SecretStr(redis_url),
                redis_prefix=prefix,
                data_dir=str(tmp_path),
                **settings,
            )
            gateway = Gateway(
                ROUTES,
                replica_settings,
                credentials=credentials,
                audit=AuditTrail.from_settings(replica_settings) if audited else None,
            )
            await gateway.start()
            made.append(gateway)
        return made

    yield make
    for gateway in made:
        await gateway.aclose()
