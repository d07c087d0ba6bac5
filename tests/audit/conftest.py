"""Audit stores on both backends: a SQLite file in a temporary ``data_dir``, and a schema of
the test's own in the PostgreSQL at 127.0.0.1:5432 (database ``test``), dropped after.

Without PostgreSQL the PostgreSQL cases skip — except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from tokenwire.audit import AuditStore, store_url
from tokenwire.config import Settings

POSTGRES_URL = os.environ.get(
    "TOKENWIRE_TEST_POSTGRES_URL", "postgresql+asyncpg://127.0.0.1:5432/test"
)


@dataclass
class Backend:
    name: str
    url: str
    schema: str | None = None
    data_dir: Path | None = None

    def store(self) -> AuditStore:
        return AuditStore(self.url, schema=self.schema)

    def settings(self) -> dict[str, Any]:
        """Gateway settings that put its audit trail here."""
        if self.data_dir is not None:  # SQLite through the default location rules
            return {"data_dir": str(self.data_dir)}
        return {"audit_url": self.url, "audit_schema": self.schema or ""}

    def cli(self) -> list[str]:
        """``tokenwire audit`` location options."""
        if self.data_dir is not None:
            return ["--data-dir", str(self.data_dir)]
        return ["--url", self.url, *(["--schema", self.schema] if self.schema else [])]

    async def execute(self, sql: str, **params: Any) -> list[Any]:
        """Raw SQL as a tamperer would run it (outside tokenwire's store API)."""
        store = self.store()
        try:
            async with store.engine.begin() as conn:
                if self.schema:
                    await conn.execute(text(f'SET LOCAL search_path TO "{self.schema}"'))
                result = await conn.execute(text(sql), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await store.aclose()


def _admin(sql: str) -> None:
    async def run() -> None:
        dsn = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgres() -> str:
    try:
        _admin("SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required on CI: {exc!r}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc!r}")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        data_dir = tmp_path / "data"
        yield Backend("sqlite", store_url(Settings(data_dir=str(data_dir))), data_dir=data_dir)
        return
    url = request.getfixturevalue("postgres")
    schema = f"tw_audit_{secrets.token_hex(6)}"
    yield Backend("postgres", url, schema=schema)
    _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
