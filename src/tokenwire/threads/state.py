"""A thread as clients see it: its values, what runs next, the interrupts it waits at.

``GET /v1/threads/{id}`` answers :func:`thread_view` of the graph's latest state;
``/history`` one per checkpoint, newest first. Who owns a thread and which route's graph
reads it come from its latest checkpoint's metadata (:func:`thread_meta`), written by the
gateway on every run (:func:`~tokenwire.threads.graphs.thread_config`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.types import StateSnapshot

from tokenwire.langchain.output import to_jsonable
from tokenwire.threads.graphs import OWNER_KEY, ROUTE_KEY

__all__ = ["ThreadMeta", "thread_meta", "thread_view"]


@dataclass(frozen=True, slots=True)
class ThreadMeta:
    thread_id: str
    owner: str | None
    route: str | None
    checkpoint_id: str | None


async def thread_meta(saver: BaseCheckpointSaver[Any], thread_id: str) -> ThreadMeta | None:
    """The thread's owner, route and latest checkpoint; None when it has none yet."""
    found = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
    if found is None:
        return None
    metadata: Any = found.metadata or {}
    owner, route = metadata.get(OWNER_KEY), metadata.get(ROUTE_KEY)
    return ThreadMeta(
        thread_id,
        owner if isinstance(owner, str) else None,
        route if isinstance(route, str) else None,
        found.config.get("configurable", {}).get("checkpoint_id"),
    )


def thread_view(state: StateSnapshot, thread_id: str, route: str | None) -> dict[str, Any]:
    """``{thread_id, route, values, next, interrupts, checkpoint_id, parent_checkpoint_id,
    step, updated_at}``, all plain JSON (``updated_at``: Unix seconds)."""
    parent = state.parent_config or {}
    metadata: Any = state.metadata or {}
    return {
        "thread_id": thread_id,
        "route": route,
        "values": to_jsonable(state.values),
        "next": list(state.next),
        "interrupts": [
            {"interrupt_id": i.id, "value": to_jsonable(i.value)} for i in state.interrupts
        ],
        "checkpoint_id": state.config.get("configurable", {}).get("checkpoint_id"),
        "parent_checkpoint_id": parent.get("configurable", {}).get("checkpoint_id"),
        "step": metadata.get("step"),
        "updated_at": _seconds(state.created_at),
    }


def _seconds(created_at: str | None) -> float | None:
    if not created_at:
        return None
    try:
        return datetime.fromisoformat(created_at).timestamp()
    except ValueError:
        return None
