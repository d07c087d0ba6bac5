"""The LangGraph server API's objects as ``langgraph-sdk`` reads them (``langgraph_sdk.schema``):
an assistant per graph route, a thread, its state (a LangGraph ``StateSnapshot``; LangGraph
is optional, so it is not imported here), a run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokenwire.langchain.output import to_jsonable
from tokenwire.routes import Route
from tokenwire.runs.run import Run

__all__ = [
    "assistant_view",
    "interrupts_of",
    "iso",
    "run_status",
    "run_view",
    "state_checkpoint",
    "state_view",
]

#: A tokenwire run's status in LangGraph's words (``schema.RunStatus``).
_RUN_STATUS = {
    "running": "running",
    "completed": "success",
    "interrupted": "interrupted",
    "cancelled": "interrupted",
    "failed": "error",
    "truncated": "error",
    "blocked": "error",
}
_EPOCH = "1970-01-01T00:00:00+00:00"


def iso(seconds: float | None) -> str:
    if seconds is None:
        return _EPOCH
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def assistant_view(route: Route, started_at: float) -> dict[str, Any]:
    """``assistant_id`` = ``graph_id`` = the route's name: one assistant per graph route."""
    return {
        "assistant_id": route.name,
        "graph_id": route.name,
        "name": route.name,
        "description": None,
        "config": {},
        "context": {},
        "metadata": {"created_by": "tokenwire"},
        "version": 1,
        "created_at": iso(started_at),
        "updated_at": iso(started_at),
    }


def run_status(run: Run) -> str:
    status = run.status.value
    if status == "failed" and (run.summary.get("error") or {}).get("code") == "upstream_timeout":
        return "timeout"
    return _RUN_STATUS.get(status, "error")


def run_view(run: Run, multitask: str | None = None) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "thread_id": run.thread_id,
        "assistant_id": run.route,
        "created_at": iso(run.created_at),
        "updated_at": iso(run.ended_at or run.created_at),
        "status": run_status(run),
        "metadata": run.metadata,
        "multitask_strategy": multitask or "reject",
        "kwargs": {},
    }


def state_checkpoint(config: Any, thread_id: str) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("checkpoint_id"):
        return None
    return {
        "thread_id": thread_id,
        "checkpoint_ns": configurable.get("checkpoint_ns", ""),
        "checkpoint_id": configurable["checkpoint_id"],
        "checkpoint_map": configurable.get("checkpoint_map"),
    }


def interrupts_of(state: Any) -> list[dict[str, Any]]:
    return [{"value": to_jsonable(i.value), "id": i.id} for i in state.interrupts]


def state_view(state: Any, thread_id: str) -> dict[str, Any]:
    """``ThreadState``: values, next, checkpoint, metadata, tasks and interrupts."""
    metadata: Any = state.metadata or {}
    return {
        "values": to_jsonable(state.values),
        "next": list(state.next),
        "checkpoint": state_checkpoint(state.config, thread_id)
        or {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None},
        "metadata": to_jsonable(dict(metadata)),
        "created_at": state.created_at,
        "parent_checkpoint": state_checkpoint(state.parent_config, thread_id),
        "tasks": [
            {
                "id": task.id,
                "name": task.name,
                "error": None if task.error is None else str(task.error),
                "interrupts": [
                    {"value": to_jsonable(i.value), "id": i.id} for i in task.interrupts
                ],
                "checkpoint": None,
                "state": None,
                "result": to_jsonable(task.result) if task.result is not None else None,
            }
            for task in state.tasks
        ],
        "interrupts": interrupts_of(state),
    }
