"""``checkpoint_encryption_key``: a thread's state never reaches SQLite or PostgreSQL in
clear, a restarted gateway with the key resumes the thread, one without it cannot read
it, and checkpoints written before the key was set stay readable."""

from __future__ import annotations

from operator import add
from pathlib import Path
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
from cryptography.fernet import Fernet
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from psycopg import sql
from pydantic import SecretStr

from tests.postgres import POSTGRES_URL
from tokenwire.config import Settings
from tokenwire.errors import ConfigError
from tokenwire.threads.checkpointer import checkpoint_target, open_checkpointer

SECRET = "ada.lovelace@example.com"


class _Notes(TypedDict, total=False):
    notes: Annotated[list[str], add]


def _noting_graph() -> Any:
    def write(state: _Notes) -> _Notes:
        return {"notes": [f"customer {SECRET}"]}

    def ask(state: _Notes) -> _Notes:
        return {"notes": [str(interrupt({"confirm": state["notes"][-1]}))]}

    builder = StateGraph(_Notes)
    builder.add_node("write", write)
    builder.add_node("ask", ask)
    builder.add_edge(START, "write")
    builder.add_edge("write", "ask")
    builder.add_edge("ask", END)
    return builder.compile()


def _stored(settings: Settings) -> str:
    """Everything the checkpoint store holds, as text (bytes both raw and hex-encoded)."""
    target = checkpoint_target(settings)
    if not target.startswith("postgresql://"):
        return Path(target).read_bytes().decode("latin-1")
    schema = settings.checkpoint_schema
    with psycopg.connect(POSTGRES_URL) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        rows = [
            conn.execute(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(name)
                )
            ).fetchall()
            for (name,) in tables
        ]
    return repr(rows)


def _absent(text: str, stored: str) -> bool:
    return text not in stored and text.encode().hex() not in stored


async def test_encrypted_checkpoints_hold_no_state_in_clear(
    checkpoint_settings: dict[str, Any],
) -> None:
    key = Fernet.generate_key().decode()
    settings = Settings(**checkpoint_settings, checkpoint_encryption_key=SecretStr(key))
    config: Any = {"configurable": {"thread_id": "t-1"}}
    async with open_checkpointer(settings) as saver:
        graph = _noting_graph().copy(update={"checkpointer": saver})
        await graph.ainvoke({"notes": []}, config)
        assert (await graph.aget_state(config)).next == ("ask",)
    assert _absent(SECRET, _stored(settings))

    without_key = Settings(**checkpoint_settings)
    async with open_checkpointer(without_key) as saver:
        graph = _noting_graph().copy(update={"checkpointer": saver})
        with pytest.raises(Exception):  # noqa: B017 — LangGraph's own "unknown type" error
            await graph.aget_state(config)

    async with open_checkpointer(settings) as saver:  # restarted, with the key
        graph = _noting_graph().copy(update={"checkpointer": saver})
        result = await graph.ainvoke(Command(resume="confirmed"), config)
    assert result["notes"] == [f"customer {SECRET}", "confirmed"]
    assert _absent(SECRET, _stored(settings))


async def test_checkpoints_written_before_the_key_stay_readable(tmp_path: Path) -> None:
    plain = Settings(data_dir=str(tmp_path))
    config: Any = {"configurable": {"thread_id": "t-2"}}
    async with open_checkpointer(plain) as saver:
        await _noting_graph().copy(update={"checkpointer": saver}).ainvoke({"notes": []}, config)
    assert SECRET in _stored(plain)  # the control: without a key, LangGraph stores it as is
    key = SecretStr(Fernet.generate_key().decode())
    keyed = Settings(data_dir=str(tmp_path), checkpoint_encryption_key=key)
    async with open_checkpointer(keyed) as saver:
        graph = _noting_graph().copy(update={"checkpointer": saver})
        result = await graph.ainvoke(Command(resume="ok"), config)
    assert result["notes"][-1] == "ok"


def test_a_key_that_is_not_a_fernet_key_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"checkpoint_encryption_key=.*not a Fernet key"):
        Settings(checkpoint_encryption_key=SecretStr("short"))
