"""The gateway's checkpointer on real SQLite and PostgreSQL: a graph compiled without one
pauses at ``interrupt()``, and a second saver opened on the same store resumes it (a restart).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.types import Command
from pydantic import SecretStr

from tests.threads.graphs import question_graph
from tokenwire.config import Settings
from tokenwire.threads.checkpointer import checkpoint_target, open_checkpointer

_graph = question_graph


async def test_thread_pauses_and_resumes_across_savers(checkpoint_settings: dict[str, Any]) -> None:
    settings = Settings(**checkpoint_settings)
    config: Any = {"configurable": {"thread_id": "t-1"}}
    async with open_checkpointer(settings) as saver:
        graph = _graph().copy(update={"checkpointer": saver})
        await graph.ainvoke({"question": "name?"}, config)
        state = await graph.aget_state(config)
        assert state.next == ("ask",)
        assert [i.value for i in state.interrupts] == [{"question": "name?"}]
    async with open_checkpointer(settings) as saver:  # a restarted gateway
        graph = _graph().copy(update={"checkpointer": saver})
        result = await graph.ainvoke(Command(resume="ada"), config)
        assert result == {"question": "name?", "answer": "ADA"}
        assert (await graph.aget_state(config)).next == ()


def test_default_target_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    assert checkpoint_target(settings) == str(tmp_path / "checkpoints.db")
    pg = Settings(checkpoint_url=SecretStr("postgresql://127.0.0.1/test"))
    assert checkpoint_target(pg) == "postgresql://127.0.0.1/test"
    assert "checkpoint_url" in repr(pg)
