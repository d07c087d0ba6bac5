"""The action ledger: what each keyed action call did, shared by every run that redoes it.

:class:`MemoryLedger` lives in one process; :class:`SqlLedger` is durable and shared by
replicas (SQLAlchemy on SQLite or PostgreSQL — by default the audit database). The first
call of a key begins it (``running``) and finishes it (``succeeded`` with
its result, or ``failed``); every later call of the key reads what it did.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import orjson
from sqlalchemy import (
    Column,
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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tokenwire import plain_json

__all__ = ["ActionEntry", "ActionStatus", "Ledger", "MemoryLedger", "SqlLedger"]

#: ``intended``: a deferred call waiting for its run to end; ``discarded``: its run did not
#: complete, so it never executed.
ActionStatus = Literal["running", "intended", "succeeded", "failed", "discarded"]


@dataclass(frozen=True, slots=True)
class ActionEntry:
    key: str
    action: str
    #: As recorded: masked by the route's PII masking when it masks tool steps.
    args: Any
    run_id: str
    thread_id: str | None = None
    status: ActionStatus = "running"
    result: Any = None
    error: str | None = None
    started_at: float = 0.0
    finished_at: float | None = None


class Ledger(Protocol):
    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        """Record ``entry`` as ``running``: None when this call is the key's first, else
        the entry already holding the key."""

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        """Take over a ``failed`` key for ``entry`` (a retryable action) — or, given the
        ``holder``, a ``running`` one whose run is gone (its replica died mid-call): False
        if another call took it first."""

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Record how the call ended — only while ``run_id`` (when given) still holds the
        key: a late writer must not overwrite a run that took it over."""

    async def release(self, key: str, run_id: str) -> None:
        """Forget a call ``run_id`` holds that did not end (its run paused or was
        cancelled inside it): the work redone executes it afresh."""

    async def get(self, key: str) -> ActionEntry | None: ...

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        """Entries matching every filter given, newest first."""

    async def setup(self) -> None:
        """Create what the ledger needs (its table); called once at gateway start."""

    async def aclose(self) -> None: ...


class MemoryLedger:
    """A ledger in this process (a gateway without a database, and tests)."""

    def __init__(self) -> None:
        self.entries_by_key: dict[str, ActionEntry] = {}

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        existing = self.entries_by_key.get(entry.key)
        if existing is not None:
            return existing
        self.entries_by_key[entry.key] = replace(entry, started_at=time.time())
        return None

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        existing = self.entries_by_key.get(entry.key)
        if existing is None or not _takes_over(existing, holder):
            return False
        self.entries_by_key[entry.key] = replace(entry, started_at=time.time())
        return True

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        entry = self.entries_by_key.get(key)
        if entry is None or (run_id is not None and entry.run_id != run_id):
            return
        self.entries_by_key[key] = replace(
            entry, status=status, result=result, error=error, finished_at=time.time()
        )

    async def release(self, key: str, run_id: str) -> None:
        entry = self.entries_by_key.get(key)
        if entry is not None and entry.run_id == run_id and entry.status == "running":
            del self.entries_by_key[key]

    async def get(self, key: str) -> ActionEntry | None:
        return self.entries_by_key.get(key)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        wanted = {"thread_id": thread_id, "run_id": run_id, "status": status}
        found = [
            e
            for e in self.entries_by_key.values()
            if all(v is None or getattr(e, k) == v for k, v in wanted.items())
        ]
        return sorted(found, key=lambda e: e.started_at, reverse=True)[:limit]

    async def setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


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
    Column("finished_at", Float, nullable=True),
    Column("run_id", String(), nullable=False, index=True),
    Column("thread_id", String(), nullable=True, index=True),
)


class SqlLedger:
    """The ledger in a database (``url``: a SQLAlchemy async URL; ``schema`` on
    PostgreSQL). A key is claimed by inserting its row: the primary key lets one insert
    win, on every replica."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        options = {"schema_translate_map": {None: schema}} if schema else {}
        self.engine: AsyncEngine = create_async_engine(url, execution_options=options)

    async def setup(self) -> None:
        """Create the table. Replicas starting at once race to: one creating it while
        another checked it was absent makes the other's CREATE fail — then it is there."""
        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_metadata.create_all)
        except DBAPIError:
            async with self.engine.connect() as conn:
                exists = await conn.run_sync(lambda c: inspect(c).has_table(actions.name))
            if not exists:
                raise

    async def aclose(self) -> None:
        await self.engine.dispose()

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        row = _row(replace(entry, status="running", started_at=time.time()))
        try:
            async with self.engine.begin() as conn:
                await conn.execute(insert(actions).values(**row))
        except IntegrityError:
            return await self.get(entry.key)
        return None

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        values = _row(replace(entry, status="running", started_at=time.time()))
        held = actions.c.status == "failed"
        if holder is not None:
            held = (actions.c.status == holder.status) & (actions.c.run_id == holder.run_id)
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(actions).where(actions.c.key == entry.key, held).values(**values)
            )
        return bool(done.rowcount)

    async def release(self, key: str, run_id: str) -> None:
        async with self.engine.begin() as conn:
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
    ) -> None:
        held = actions.c.key == key
        if run_id is not None:
            held = held & (actions.c.run_id == run_id)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(actions)
                .where(held)
                .values(
                    status=status,
                    result=_json(result),
                    error=error,
                    finished_at=time.time(),
                )
            )

    async def get(self, key: str) -> ActionEntry | None:
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_entry(row._mapping) for row in rows]


def _entry(row: Any) -> ActionEntry:
    return ActionEntry(
        key=row["key"],
        action=row["action"],
        args=orjson.loads(row["args"]),
        run_id=row["run_id"],
        thread_id=row["thread_id"],
        status=row["status"],
        result=orjson.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _takes_over(existing: ActionEntry, holder: ActionEntry | None) -> bool:
    if holder is None:
        return existing.status == "failed"
    return existing.status == holder.status and existing.run_id == holder.run_id


def _json(value: Any) -> str:
    return plain_json.dumps(value).decode()


def _row(entry: ActionEntry) -> dict[str, Any]:
    return {
        "key": entry.key,
        "action": entry.action,
        "args": _json(entry.args),
        "status": entry.status,
        "result": None if entry.result is None else _json(entry.result),
        "error": entry.error,
        "started_at": entry.started_at,
        "finished_at": entry.finished_at,
        "run_id": entry.run_id,
        "thread_id": entry.thread_id,
    }
