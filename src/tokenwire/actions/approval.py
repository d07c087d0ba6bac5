"""``@action(requires_approval=True)``: a human approves each call before it executes.

The question is LangChain's per-call ``ToolApprovalRequest`` (``{"type": "tool_approval",
tool_call_id, name, args, description}``, the call's idempotency key as its id), so every
client that answers HITL approvals answers these too. Where it is asked depends on the run:

- in a LangGraph graph with a checkpointer (a thread), through ``interrupt()``: the run
  ends ``interrupted`` with ``approval.required``; ``POST /v1/threads/{id}/approvals``
  resumes it, the node re-runs and the call gets its decision;
- anywhere else, by waiting within the live run (:attr:`~.scope.ActionScope.ask`):
  ``approval.required`` streams, ``POST /v1/runs/{id}/approvals`` answers, and no answer
  within ``approval_timeout_seconds`` is a rejection.

A decision is applied by :func:`verdict`: ``approve`` runs the call as asked, ``edit``
with the reviewer's arguments, ``reject`` and ``respond`` do not run it and give the agent
a documented result instead (``{"status": "rejected" | "answered", "action", "message"}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Verdict", "approval_request", "in_checkpointed_graph", "pause_for", "verdict"]

#: LangGraph's config key for the graph's checkpointer (``langgraph._internal._constants``).
_CHECKPOINTER = "__pregel_checkpointer"


def approval_request(key: str, name: str, args: Any, description: str) -> dict[str, Any]:
    """The interrupt value that asks for a decision on one call."""
    return {
        "type": "tool_approval",
        "tool_call_id": key,
        "name": name,
        "args": args,
        "description": description,
    }


def in_checkpointed_graph(config: Mapping[str, Any]) -> bool:
    """Whether ``interrupt()`` can pause here: a graph node of a graph that checkpoints."""
    return config.get("configurable", {}).get(_CHECKPOINTER) is not None


def pause_for(question: dict[str, Any]) -> Any:
    """``interrupt(question)``: pauses the graph the first time, returns the decision
    when the node re-runs on resume. Only called in a checkpointed graph, where LangGraph
    is installed (it is an optional dependency)."""
    from langgraph.types import interrupt

    return interrupt(question)


@dataclass(frozen=True, slots=True)
class Verdict:
    #: Run the call (with ``args``), or answer the agent with ``answer`` instead.
    execute: bool
    args: Mapping[str, Any] | None = None
    answer: Any = None


def verdict(name: str, decision: Any) -> Verdict:
    """What a reviewer's decision (a resume value, ``{"type": ...}``) means for the call."""
    kind = decision.get("type") if isinstance(decision, Mapping) else None
    if kind == "approve":
        return Verdict(True)
    if kind == "edit":
        edited = decision.get("edited_action") or {}
        args = edited.get("args") if isinstance(edited, Mapping) else None
        if isinstance(args, Mapping):
            return Verdict(True, args=args)
    message = decision.get("message") if isinstance(decision, Mapping) else None
    if kind == "respond":
        return Verdict(False, answer={"status": "answered", "action": name, "message": message})
    # reject, an expired question, or anything unreadable: the call does not run.
    text = message or "the call was not approved"
    return Verdict(False, answer={"status": "rejected", "action": name, "message": text})
