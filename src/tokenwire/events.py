"""Canonical events: the one vocabulary every protocol encodes.

A run appends events to its log; each has a per-run ``seq`` (starting at 1), a ``type``
and a JSON-serialisable ``data`` mapping. Protocol encoders turn these into wire bytes;
LangChain-facing code only ever produces them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["TERMINAL_STATUSES", "ErrorCode", "Event", "EventType", "RunStatus", "stamp_of"]


class EventType(StrEnum):
    RUN_START = "run.start"
    TOKEN = "token"
    REASONING = "reasoning"
    TOOL_START = "tool.start"
    TOOL_END = "tool.end"
    #: A tool call waits for a human's decision (one per call a HITL interrupt names).
    APPROVAL_REQUIRED = "approval.required"
    #: A deferred ``@action`` (``commit = "after_validation"``) at its run's end: executed,
    #: failed, or discarded because the run did not complete.
    ACTION_COMMITTED = "action.committed"
    ACTION_FAILED = "action.failed"
    ACTION_DISCARDED = "action.discarded"
    ACTION_SKIPPED_SHADOW = "action.skipped_shadow"
    #: A LangGraph ``interrupt()``: the run then ends ``interrupted``; resume on its thread.
    INTERRUPT = "interrupt"
    RETRIEVAL = "retrieval"
    #: What the runnable's own code streamed: ``get_stream_writer()``, ``adispatch_custom_event``.
    CUSTOM = "custom"
    #: A LangGraph node began / finished (routes with ``progress`` on).
    NODE_START = "node.start"
    NODE_END = "node.end"
    #: What a node of a LangGraph graph wrote to the state (every graph run).
    NODE_UPDATE = "node.update"
    #: A LangGraph graph's state when its run stopped (completed or paused), every graph run.
    GRAPH_STATE = "graph.state"
    GUARDRAIL = "guardrail"
    USAGE = "usage"
    ERROR = "error"
    RUN_END = "run.end"
    #: A fallback takes over mid-stream: clients discard the partial text they have.
    RESTART = "run.restart"


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TRUNCATED = "truncated"
    BLOCKED = "blocked"
    #: Paused at a LangGraph ``interrupt()``; a run on the same thread resumes it.
    INTERRUPTED = "interrupted"


TERMINAL_STATUSES = frozenset(RunStatus) - {RunStatus.RUNNING}


class ErrorCode(StrEnum):
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    STALL_TIMEOUT = "stall_timeout"
    INCOMPLETE_STREAM = "incomplete_stream"
    POLICY_VIOLATION = "policy_violation"
    BUDGET_EXCEEDED = "budget_exceeded"
    RATE_LIMITED = "rate_limited"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


class Event:
    """One entry of a run's event log.

    ``wire`` caches the encoded bytes of the native SSE form, so an event replayed to many
    subscribers (or many times to one) is serialised once. ``at``: when the recorder logged
    a token, on the gateway's clock (what delivery lag is measured from; unset otherwise,
    and on a copy of another replica's log).
    """

    __slots__ = ("at", "data", "seq", "type", "wire")

    #: Unset until the recorder stamps a token (read it with ``stamp_of``): the append of
    #: every other event stays as cheap as it was.
    at: float

    def __init__(self, seq: int, type: str, data: dict[str, Any]) -> None:
        self.seq = seq
        self.type = type
        self.data = data
        self.wire: bytes | None = None

    def __repr__(self) -> str:
        return f"Event(seq={self.seq}, type={self.type!r}, data={self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.seq, self.type, self.data) == (other.seq, other.type, other.data)

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data}


def stamp_of(event: Event) -> float | None:
    """When the recorder logged ``event`` (a token), on the gateway's clock; else None."""
    return getattr(event, "at", None)
