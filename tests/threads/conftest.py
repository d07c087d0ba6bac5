"""Checkpointer settings on both backends: SQLite in a temporary ``data_dir``, and a schema of
the test's own in the PostgreSQL at 127.0.0.1:5432 (database ``test``), dropped after.

Without PostgreSQL the PostgreSQL cases skip — except on CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.postgres import pg_admin


@pytest.fixture(params=["sqlite", "postgres"])
def checkpoint_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Gateway settings that put its checkpoints on one backend (a fresh, empty store)."""
    if request.param == "sqlite":
        yield {"data_dir": str(tmp_path / "data")}
        return
    url = request.getfixturevalue("checkpoint_postgres")
    schema = f"tw_threads_{secrets.token_hex(6)}"
    yield {"checkpoint_url": url, "checkpoint_schema": schema}
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
