"""Checkpointer settings on both backends: SQLite in a temporary ``data_dir``, and a schema of
the test's own in the PostgreSQL at 127.0.0.1:5432 (database ``test``), dropped after.

Without PostgreSQL the PostgreSQL cases skip — except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

POSTGRES_URL = os.environ.get("TOKENWIRE_TEST_CHECKPOINT_URL", "postgresql://127.0.0.1:5432/test")


def _admin(statement: sql.SQL | sql.Composed) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)


@pytest.fixture(scope="session")
def checkpoint_postgres() -> str:
    try:
        _admin(sql.SQL("SELECT 1"))
    except psycopg.Error as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required on CI: {exc!r}")
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc!r}")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgres"])
def checkpoint_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Gateway settings that put its checkpoints on one backend (a fresh, empty store)."""
    if request.param == "sqlite":
        yield {"data_dir": str(tmp_path / "data")}
        return
    url = request.getfixturevalue("checkpoint_postgres")
    schema = f"tw_threads_{secrets.token_hex(6)}"
    yield {"checkpoint_url": url, "checkpoint_schema": schema}
    _admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
