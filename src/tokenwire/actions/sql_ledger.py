"""The action ledger in a database: durable, and shared by every replica.

Its table lives beside the audit records, through the audit store's own
:class:`~tokenwire.database.Database` (the gateway hands it over): one engine opens the
audit database. A key is claimed by inserting its row — the primary key lets one insert
win, on every replica. Writes are ``BEGIN IMMEDIATE`` on SQLite, so a conditional update
never finds its snapshot stale.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Float,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateColumn

from tokenwire import plain_json
from tokenwire.actions.ledger import FINISHED, ActionEntry, ActionStatus
from tokenwire.database import Database

__all__ = ["SqlLedger", "actions"]

_metadata = MetaData()
actions = Table(
    "tokenwire_actions",
    _metadata,
    Column("key", String(64), primary_key=True),
    Column("action", String(), nullable=False),
    Column("args", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("result", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float, nullable=True, index=True),
    Column("run_id", String(), nullable=False, index=True),
    Column("thread_id", String(), nullable=True, index=True),
    Column("sealed", Text, nullable=True),
    Column("commit_args", Text, nullable=True),
)


class SqlLedger:
    """The ledger in ``database`` (the audit store's; :meth:`at` opens one of its own)."""

    def __init__(self, database: Database, *, owned: bool = False) -> None:
        self.database = database
        #: Whether :meth:`aclose` disposes of the engine (not when the audit store owns it).
        self._owned = owned

    @classmethod
    def at(cls, url: str, *, schema: str | None = None) -> SqlLedger:
        """A ledger with a database of its own at ``url`` (a SQLAlchemy async URL)."""
        return cls(Database(url, schema=schema), owned=True)

    async def setup(self) -> None:
        """Create the table (one replica at a time), and the columns a table made by an
        older version lacks."""
        async with self.database.setup() as conn:
            await conn.run_sync(_metadata.create_all)
            await conn.run_sync(_add_missing_columns, self.database.schema)

    async def aclose(self) -> None:
        if self._owned:
            await self.database.aclose()

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        while True:
            row = _row(replace(entry, status="running", started_at=time.time()))
            try:
                async with self.database.writing() as conn:
                    await conn.execute(insert(actions).values(**row))
            except IntegrityError:
                existing = await self.get(entry.key)
                if existing is None:  # released or expired in between: claim it again
                    continue
                return existing
            return None

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        values = _row(replace(entry, status="running", started_at=time.time()))
        held = actions.c.status == "failed"
        if holder is not None:
            held = (actions.c.status == holder.status) & (actions.c.run_id == holder.run_id)
        async with self.database.writing() as conn:
            done = await conn.execute(
                update(actions).where(actions.c.key == entry.key, held).values(**values)
            )
        return bool(done.rowcount)

    async def release(self, key: str, run_id: str) -> None:
        async with self.database.writing() as conn:
            await conn.execute(
                delete(actions).where(
                    actions.c.key == key,
                    actions.c.run_id == run_id,
                    actions.c.status == "running",
                )
            )

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        held = actions.c.key == key
        if run_id is not None:
            held = held & (actions.c.run_id == run_id)
        values = {
            "status": status,
            "result": _json(result),
            "error": error,
            "sealed": sealed,
            "commit_args": _json_or_none(commit_args),
            "finished_at": time.time(),
        }
        async with self.database.writing() as conn:
            await conn.execute(update(actions).where(held).values(**values))

    async def get(self, key: str) -> ActionEntry | None:
        async with self.database.connect() as conn:
            found = (await conn.execute(select(actions).where(actions.c.key == key))).first()
        return None if found is None else _entry(found._mapping)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        query = select(actions).order_by(actions.c.started_at.desc()).limit(limit)
        for column, value in (("thread_id", thread_id), ("run_id", run_id), ("status", status)):
            if value is not None:
                query = query.where(actions.c[column] == value)
        async with self.database.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_entry(row._mapping) for row in rows]

    async def expire(self, before: float) -> int:
        async with self.database.writing() as conn:
            gone = await conn.execute(
                delete(actions).where(
                    actions.c.status.in_(FINISHED), actions.c.finished_at < before
                )
            )
        return int(gone.rowcount)


def _add_missing_columns(conn: Connection, schema: str | None) -> None:
    """Columns added since a table was created (``create_all`` leaves an existing table
    as it is); every one of them is nullable."""
    columns = inspect(conn).get_columns(actions.name, schema=schema)
    present = {column["name"] for column in columns}
    quote = conn.dialect.identifier_preparer.quote
    table = quote(actions.name) if schema is None else f"{quote(schema)}.{quote(actions.name)}"
    for column in actions.columns:
        if column.name not in present:
            spec = CreateColumn(column).compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {spec}")


def _entry(row: Any) -> ActionEntry:
    return ActionEntry(
        key=row["key"],
        action=row["action"],
        args=orjson.loads(row["args"]),
        run_id=row["run_id"],
        thread_id=row["thread_id"],
        status=row["status"],
        result=_loaded(row["result"]),
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        sealed=row["sealed"],
        commit_args=_loaded(row["commit_args"]),
    )


def _json(value: Any) -> str:
    return plain_json.dumps(value).decode()


def _json_or_none(value: Any) -> str | None:
    return None if value is None else _json(value)


def _loaded(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _row(entry: ActionEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "action": entry.action,
        "args": _json(entry.args),
        "status": entry.status,
        "result": _json_or_none(entry.result),
        "error": entry.error,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "run_id": entry.run_id,
        "thread_id": entry.thread_id,
        "sealed": entry.sealed,
        "commit_args": _json_or_none(entry.commit_args),
    }
