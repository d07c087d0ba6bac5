"""The audit store: SQLAlchemy 2 (async) on SQLite or PostgreSQL.

Appending is read-head, insert, write-head in one transaction that first locks the chain-head
row, so any number of writers — tasks, processes, replicas sharing one PostgreSQL — extend
one chain without forking it: on PostgreSQL with ``SELECT ... FOR UPDATE``, on SQLite with
``BEGIN IMMEDIATE`` (SQLite ignores ``FOR UPDATE``; the immediate transaction takes the
database's write lock before the head is read).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tokenwire.audit.chain import GENESIS_HASH, Link, canonical_json, link_hash
from tokenwire.audit.schema import CHAIN_ROW, COPIED_COLUMNS, chain, metadata, records
from tokenwire.config import Settings
from tokenwire.database import Database

__all__ = ["AuditStore", "AuditStoreMissing", "ChainState", "Snapshot", "store_url"]

_PAGE = 1000
#: What a listing reads of each record: the hashed body and its links.
_LISTED = select(records.c.prev_hash, records.c.hash, records.c.body)


class AuditStoreMissing(ValueError):
    """There is no audit trail at that URL (never written, or the wrong database)."""


def store_url(settings: Settings, *, url: str | None = None, data_dir: str | None = None) -> str:
    """``url``, else ``settings.audit_url``, else SQLite at ``<data_dir>/audit.db`` (see
    ``Settings.data_dir``)."""
    if url or settings.audit_url:
        return url or settings.audit_url.get_secret_value()
    directory = data_dir or settings.data_dir or "data"
    return f"sqlite+aiosqlite:///{Path(directory) / 'audit.db'}"


@dataclass(frozen=True, slots=True)
class ChainState:
    head_sequence: int
    head_hash: str
    base_sequence: int
    base_hash: str
    pruned_at: float | None

    @property
    def head(self) -> str:
        """The anchor operators keep outside the database (``--expect-head``)."""
        return f"{self.head_sequence}:{self.head_hash}"


class AuditStore:
    """The tables at ``url``; on PostgreSQL optionally in ``schema`` (created if missing)."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        #: The database's engine, shared with the action ledger (``Services``).
        self.database = Database(url, schema=schema)
        self.url = url
        self.backend = self.database.backend
        self.schema = self.database.schema
        self._sqlite_path = self.database.sqlite_path
        self.engine: AsyncEngine = self.database.engine

    def __repr__(self) -> str:
        # The URL may carry a password.
        return f"AuditStore({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def exists(self) -> bool:
        """False for a SQLite file that was never created (reading must not create it)."""
        return self._sqlite_path is None or self._sqlite_path.exists()

    async def create(self) -> None:
        """Create the tables and the chain-head row if missing (safe to race)."""
        async with self.database.setup() as conn:
            await conn.run_sync(metadata.create_all)
            if await conn.scalar(select(chain.c.id).where(chain.c.id == CHAIN_ROW)) is None:
                if await conn.scalar(select(func.count()).select_from(records)):
                    # Starting a fresh chain over old records would hide the deletion.
                    raise AuditStoreMissing("the audit chain-head row was deleted; not writing")
                await conn.execute(
                    insert(chain).values(
                        id=CHAIN_ROW,
                        head_sequence=0,
                        head_hash=GENESIS_HASH,
                        base_sequence=0,
                        base_hash=GENESIS_HASH,
                    )
                )

    async def append(self, entries: Sequence[Mapping[str, Any]]) -> ChainState:
        """Chain ``entries`` after the current head, atomically; returns the new head."""
        async with self._connect(write=True) as conn, conn.begin():
            state = await _locked_state(conn)
            sequence, prev = state.head_sequence, state.head_hash
            now = time.time()
            rows = []
            for entry in entries:
                sequence += 1
                body = canonical_json({**entry, "sequence": sequence, "recorded_at": now})
                digest = link_hash(prev, body)
                # Copied from the parsed body, so the columns equal what was hashed.
                fields = orjson.loads(body)
                rows.append(
                    {
                        "sequence": sequence,
                        **{name: fields.get(name) for name in COPIED_COLUMNS},
                        "prev_hash": prev,
                        "hash": digest,
                        "body": body,
                    }
                )
                prev = digest
            if rows:
                await conn.execute(insert(records), rows)
                await conn.execute(
                    update(chain)
                    .where(chain.c.id == CHAIN_ROW)
                    .values(head_sequence=sequence, head_hash=prev)
                )
        return ChainState(sequence, prev, state.base_sequence, state.base_hash, state.pruned_at)

    async def page(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Records with ``sequence > after``, oldest first, as stored (body + chain fields)."""
        async with self._connect() as conn:
            query = _LISTED.where(records.c.sequence > after)
            return _entries(await conn.execute(query.order_by(records.c.sequence).limit(limit)))

    async def records_of(self, run_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """One run's entries, oldest first: its record and the feedback given on it."""
        async with self._connect() as conn:
            query = _LISTED.where(records.c.run_id == run_id)
            return _entries(await conn.execute(query.order_by(records.c.sequence).limit(limit)))

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Snapshot]:
        """One consistent view of the chain (one read transaction) for verify and export."""
        if not self.exists:
            raise AuditStoreMissing(f"no audit database at {self._sqlite_path}")
        async with self._connect() as conn:
            if self.backend == "postgresql":
                conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                if not await conn.run_sync(
                    lambda c: inspect(c).has_table(chain.name, schema=self.schema)
                ):
                    raise AuditStoreMissing(f"no audit trail in {self!r}")
                yield Snapshot(conn, await _state(conn))

    async def prune(self, cutoff: float) -> int:
        """Delete the oldest records recorded before ``cutoff`` — only ever a whole prefix of
        the chain — and move the checkpoint to the last one deleted. Returns how many."""
        async with self._connect(write=True) as conn, conn.begin():
            state = await _locked_state(conn)
            first_kept = await conn.scalar(
                select(func.min(records.c.sequence)).where(records.c.recorded_at >= cutoff)
            )
            last = state.head_sequence if first_kept is None else int(first_kept) - 1
            if last <= state.base_sequence:
                return 0
            last_hash = await conn.scalar(select(records.c.hash).where(records.c.sequence == last))
            if last_hash is None:  # a hole: leave the evidence for ``verify`` to report
                raise AuditStoreMissing(f"sequence {last} is missing; not pruning")
            deleted = await conn.execute(delete(records).where(records.c.sequence <= last))
            await conn.execute(
                update(chain)
                .where(chain.c.id == CHAIN_ROW)
                .values(base_sequence=last, base_hash=last_hash, pruned_at=time.time())
            )
            return int(deleted.rowcount)

    async def ping(self) -> None:
        """Raise unless the database answers (tells a refused record from a store away)."""
        async with self._connect() as conn:
            await conn.scalar(select(1))

    async def aclose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def _connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        async with self.database.connect(write=write) as conn:
            yield conn


class Snapshot:
    def __init__(self, conn: AsyncConnection, state: ChainState) -> None:
        self._conn = conn
        self.state = state

    async def links(self) -> AsyncIterator[Link]:
        """Every stored row in ``sequence`` order, paged so memory stays flat."""
        after: int | None = None
        while True:
            query = select(records).order_by(records.c.sequence).limit(_PAGE)
            if after is not None:
                query = query.where(records.c.sequence > after)
            rows = (await self._conn.execute(query)).all()
            for row in rows:
                yield Link(
                    sequence=row.sequence,
                    prev_hash=row.prev_hash,
                    hash=row.hash,
                    body=row.body,
                    columns={name: getattr(row, name) for name in COPIED_COLUMNS},
                )
            if len(rows) < _PAGE:
                return
            after = rows[-1].sequence


def _entries(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [
        {**orjson.loads(row.body), "prev_hash": row.prev_hash, "hash": row.hash} for row in rows
    ]


async def _state(conn: AsyncConnection, *, lock: bool = False) -> ChainState:
    query = select(chain).where(chain.c.id == CHAIN_ROW)
    row = (await conn.execute(query.with_for_update() if lock else query)).one_or_none()
    if row is None:
        raise AuditStoreMissing("the audit chain-head row is missing")
    return ChainState(
        row.head_sequence, row.head_hash, row.base_sequence, row.base_hash, row.pruned_at
    )


async def _locked_state(conn: AsyncConnection) -> ChainState:
    return await _state(conn, lock=True)
