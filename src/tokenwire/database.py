"""The audit database, opened in one place: the engine shared by the tables kept there.

The audit store (``tokenwire.audit``) and the action ledger (``tokenwire.actions``) keep
their tables in one database, through one :class:`Database` — one engine, one connection
pool, one way to take SQLite's write lock. This module sits at the bottom of the layers so
that the ledger (below ``audit``) can be handed the audit store's ``Database`` by the
gateway without importing ``audit``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.schema import CreateSchema

__all__ = ["Database"]

#: Serialises table creation between replicas starting at once (``pg_advisory_xact_lock``).
_SETUP_LOCK = 0x746F6B656E77  # "tokenw"
#: The execution option that makes a SQLite transaction ``BEGIN IMMEDIATE``.
_WRITE = "tokenwire_audit_write"


class Database:
    """The database at ``url`` (a SQLAlchemy async URL); on PostgreSQL optionally in
    ``schema`` (created by :meth:`setup` if missing)."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        parsed = make_url(url)
        self.url = url
        self.backend = parsed.get_backend_name()
        if schema and self.backend != "postgresql":
            raise ValueError("audit_schema needs PostgreSQL")
        self.schema = schema or None
        options = {"schema_translate_map": {None: self.schema}} if self.schema else {}
        sqlite_file = self.backend == "sqlite" and parsed.database not in (None, "", ":memory:")
        #: The SQLite file (None: not SQLite, or in memory).
        self.sqlite_path = Path(str(parsed.database)) if sqlite_file else None
        self.engine: AsyncEngine = create_async_engine(
            url, pool_pre_ping=self.backend == "postgresql", execution_options=options
        )
        if self.backend == "sqlite":
            _take_over_sqlite_transactions(self.engine)

    def __repr__(self) -> str:
        # The URL may carry a password.
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"

    @asynccontextmanager
    async def connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection; ``write``: its transactions take SQLite's write lock at ``BEGIN``
        (a read-then-write transaction must not find its snapshot stale at the write)."""
        async with self.engine.connect() as conn:
            if write and self.backend == "sqlite":
                conn = await conn.execution_options(**{_WRITE: True})
            yield conn

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends."""
        async with self.connect(write=True) as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def setup(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for creating tables, one replica at a time: replicas
        starting at once must not race one another's ``CREATE``."""
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        async with self.writing() as conn:
            if self.backend == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETUP_LOCK})
                if self.schema:
                    await conn.execute(CreateSchema(self.schema, if_not_exists=True))
            yield conn

    async def aclose(self) -> None:
        await self.engine.dispose()


def _take_over_sqlite_transactions(engine: AsyncEngine) -> None:
    """The sqlite3 driver's implicit BEGIN comes at the first write — too late to keep
    two writers from reading the same head. Begin explicitly instead (SQLAlchemy's
    documented recipe), ``IMMEDIATE`` for writes."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # WAL (persistent in the file): auditors read while the gateway writes. Switching
        # needs the file to itself, so a connection racing another's switch skips it.
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            pass
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
