"""The PostgreSQL every test that needs one talks to (127.0.0.1:5432, database ``test``)."""

from __future__ import annotations

import os

import psycopg
from psycopg import sql

POSTGRES_URL = os.environ.get("TOKENWIRE_TEST_CHECKPOINT_URL", "postgresql://127.0.0.1:5432/test")


def pg_admin(statement: sql.SQL | sql.Composed) -> None:
    """Run one statement (``CREATE SCHEMA``, ``DROP SCHEMA``) in autocommit."""
    with psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(statement)
