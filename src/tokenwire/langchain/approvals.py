"""Tool calls a LangGraph interrupt asks a human to approve, read from its value.

LangChain's ``HumanInTheLoopMiddleware`` pauses an agent with ``interrupt(value)`` in one
of two shapes (``langchain.agents.middleware.human_in_the_loop``):

- batched (the default): one ``HITLRequest`` per model turn, ``{"action_requests": [{name,
  args, description?}], "review_configs": [{action_name, allowed_decisions}]}``, resumed
  with ``{"decisions": [...]}`` in the order of the requests. The requests carry no tool
  call id, so each gets ``"<interrupt_id>:<index>"``;
- per call: one ``ToolApprovalRequest`` per gated call, ``{"type": "tool_approval",
  tool_call_id, name, args, description}``, resumed with one decision keyed by the
  interrupt's id; the decisions it allows are the interrupt's ``response_schema``.

Each becomes an :class:`Approval`: what ``approval.required`` events carry and what
``POST /v1/threads/{id}/approvals`` turns back into the resume value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tokenwire.langchain.decision_schema import (
    args_problems,
    decision_types,
    edit_args_schema,
    json_schema,
)

__all__ = ["DECISIONS", "Approval", "approvals_of", "batched_call_id", "resume_value"]

#: What a reviewer may decide, as LangChain names it.
DECISIONS = ("approve", "edit", "reject", "respond")

Mode = Literal["batched", "per_call"]


@dataclass(frozen=True, slots=True)
class Approval:
    call_id: str
    interrupt_id: str
    name: str
    args: Any
    description: str
    allowed_decisions: tuple[str, ...]
    #: Batched requests are answered together, in order; a per-call one alone.
    mode: Mode
    index: int = 0
    #: A per-call interrupt's response schema (JSON schema): what LangGraph will check
    #: the answer against when the graph resumes.
    schema: Mapping[str, Any] | None = field(default=None, compare=False)

    def data(self) -> dict[str, Any]:
        """The ``approval.required`` event's data."""
        return {
            "call_id": self.call_id,
            "interrupt_id": self.interrupt_id,
            "name": self.name,
            "args": self.args,
            "description": self.description,
            "allowed_decisions": list(self.allowed_decisions),
        }


def batched_call_id(interrupt_id: str, index: int) -> str:
    return f"{interrupt_id}:{index}"


def approvals_of(interrupt_id: str, value: Any, response_schema: Any = None) -> list[Approval]:
    """The approvals an interrupt's value asks for; none when it is not a HITL request."""
    if not isinstance(value, Mapping):
        return []
    if value.get("type") == "tool_approval" and isinstance(value.get("tool_call_id"), str):
        schema = json_schema(response_schema)
        return [
            Approval(
                call_id=value["tool_call_id"],
                interrupt_id=interrupt_id,
                name=str(value.get("name", "")),
                args=value.get("args"),
                description=str(value.get("description", "")),
                allowed_decisions=_schema_decisions(schema),
                mode="per_call",
                schema=schema,
            )
        ]
    requests = value.get("action_requests")
    if not isinstance(requests, list):
        return []
    allowed = _allowed_by_action(value.get("review_configs"))
    found = []
    for index, request in enumerate(requests):
        if not isinstance(request, Mapping):
            continue
        name = str(request.get("name", ""))
        found.append(
            Approval(
                call_id=batched_call_id(interrupt_id, index),
                interrupt_id=interrupt_id,
                name=name,
                args=request.get("args"),
                description=str(request.get("description", "")),
                allowed_decisions=allowed.get(name, DECISIONS),
                mode="batched",
                index=index,
            )
        )
    return found


def _allowed_by_action(configs: Any) -> dict[str, tuple[str, ...]]:
    allowed: dict[str, tuple[str, ...]] = {}
    for config in configs if isinstance(configs, list) else ():
        if isinstance(config, Mapping) and isinstance(config.get("action_name"), str):
            decisions = config.get("allowed_decisions")
            if isinstance(decisions, list):
                allowed[config["action_name"]] = tuple(str(d) for d in decisions)
    return allowed


def _schema_decisions(schema: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The decision types a per-call interrupt's response schema admits; all of them when
    it cannot be read."""
    return (decision_types(schema, DECISIONS) if schema is not None else ()) or DECISIONS


def resume_value(approvals: list[Approval], decisions: Any) -> dict[str, Any]:
    """The ``Command(resume=...)`` value that answers ``approvals`` with ``decisions``
    (``[{call_id, type, args?, name?, message?}]``): keyed by interrupt id, a batched
    interrupt's ``{"decisions": [...]}`` in its requests' order, a per-call one's single
    decision. Raises ``ValueError`` naming what is wrong: every pending call needs exactly
    one decision, of a type its review allows."""
    if not approvals:
        raise ValueError("the thread waits for no approval")
    if not isinstance(decisions, list) or not decisions:
        raise ValueError("decisions: must be a non-empty list")
    pending = {a.call_id: a for a in approvals}
    chosen: dict[str, dict[str, Any]] = {}
    for position, decision in enumerate(decisions):
        where = f"decisions.{position}"
        if not isinstance(decision, Mapping):
            raise ValueError(f"{where}: must be an object")
        approval = pending.get(str(decision.get("call_id")))
        if approval is None:
            raise ValueError(f"{where}.call_id: no pending approval {decision.get('call_id')!r}")
        if approval.call_id in chosen:
            raise ValueError(f"{where}.call_id: {approval.call_id!r} is decided twice")
        chosen[approval.call_id] = _decision(approval, decision, where)
    missing = [call_id for call_id in pending if call_id not in chosen]
    if missing:
        raise ValueError(f"decisions: no decision for {', '.join(missing)}")
    resume: dict[str, Any] = {}
    for approval in approvals:
        decision = chosen[approval.call_id]
        if approval.mode == "per_call":
            resume[approval.interrupt_id] = decision
        else:
            resume.setdefault(approval.interrupt_id, {"decisions": []})["decisions"].append(
                decision
            )
    return resume


def _decision(approval: Approval, decision: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = decision.get("type")
    if kind not in approval.allowed_decisions:
        allowed = ", ".join(approval.allowed_decisions)
        raise ValueError(f"{where}.type: {kind!r} is not allowed here (allowed: {allowed})")
    message = decision.get("message")
    if message is not None and not isinstance(message, str):
        raise ValueError(f"{where}.message: must be a string")
    if kind == "approve":
        return {"type": "approve"}
    if kind == "edit":
        args = decision.get("args")
        if not isinstance(args, Mapping):
            raise ValueError(f"{where}.args: an edit needs the call's new args (an object)")
        name = str(decision.get("name") or approval.name)
        _check_edit(approval, name, args, where)
        return {"type": "edit", "edited_action": {"name": name, "args": dict(args)}}
    if kind == "respond":
        if not message:
            raise ValueError(f"{where}.message: a respond decision needs the message")
        return {"type": "respond", "message": message}
    return {"type": "reject", "message": message} if message else {"type": "reject"}


def _check_edit(approval: Approval, name: str, args: Mapping[str, Any], where: str) -> None:
    """A per-call edit as its response schema takes it: the resumed graph would fail on
    anything else (a batched edit is checked by the tool, which tells the model)."""
    if approval.schema is None:
        return
    pinned, args_schema = edit_args_schema(approval.schema)
    if pinned is not None and name != pinned:
        raise ValueError(f"{where}.name: an edit of this call must keep the tool {pinned!r}")
    problems = args_problems(approval.schema, args_schema, args) if args_schema else []
    if problems:
        raise ValueError(f"{where}.args: " + "; ".join(problems))
