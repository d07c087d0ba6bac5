"""The checkpointer factory: one saver per gateway, opened at start-up, closed at shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.serde.base import SerializerProtocol

from tokenwire.config import Settings
from tokenwire.threads.encryption import encrypted_serde

__all__ = ["checkpoint_target", "open_checkpointer"]


def checkpoint_target(settings: Settings) -> str:
    """The PostgreSQL URL of ``settings.checkpoint_url``, else the SQLite file path
    ``<data_dir>/checkpoints.db`` (``data_dir`` empty: ``./data``)."""
    url = settings.checkpoint_url.get_secret_value()
    if url:
        return url
    return str(Path(settings.data_dir or "data") / "checkpoints.db")


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[str]]:
    """Open the configured saver with its tables created (``setup()``), closed on exit."""
    target = checkpoint_target(settings)
    serde = encrypted_serde(settings.checkpoint_encryption_key.get_secret_value())
    if target.startswith(("postgresql://", "postgres://")):
        async with _postgres(target, settings.checkpoint_schema, serde) as saver:
            yield saver
    else:
        async with _sqlite(Path(target), serde) as saver:
            yield saver


@asynccontextmanager
async def _sqlite(
    path: Path, serde: SerializerProtocol | None
) -> AsyncIterator[BaseCheckpointSaver[str]]:
    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    # aiosqlite logs each statement with its parameters at DEBUG: a checkpoint's state
    # (a conversation, unmasked) would be in the gateway's logs.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(str(path)) as conn:
        saver = AsyncSqliteSaver(conn, serde=serde)
        await saver.setup()
        yield saver


@asynccontextmanager
async def _postgres(
    url: str, schema: str, serde: SerializerProtocol | None
) -> AsyncIterator[BaseCheckpointSaver[str]]:
    # A pool, not from_conn_string's single connection: concurrent runs on different threads
    # would otherwise queue behind one connection's lock.
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg import AsyncConnection, sql
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    kwargs: dict[str, object] = {"autocommit": True, "prepare_threshold": 0}
    if schema:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
        kwargs["options"] = f"-c search_path={schema}"
    kwargs["row_factory"] = dict_row
    async with AsyncConnectionPool(url, kwargs=kwargs, open=False) as pool:
        saver = AsyncPostgresSaver(pool, serde=serde)  # type: ignore[arg-type]
        await saver.setup()
        yield saver
