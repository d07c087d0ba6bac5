"""Vercel AI SDK UI message stream (v1): canonical events → ``useChat`` parts.

Each part is one SSE ``data: <json>`` line; the stream ends with ``data: [DONE]``.

=================  ==========================================================================
canonical event    UI message stream parts
=================  ==========================================================================
``run.start``      ``start`` (``messageId`` = run id; ``messageMetadata``: run id, route,
                   trace id) then ``start-step``
``token``          ``text-start`` (first of a stretch), ``text-delta``; the stretch ends —
                   ``text-end`` — at any other part, so text before and after a tool step
                   are two text parts, in order
``reasoning``      ``reasoning-start`` / ``reasoning-delta`` / ``reasoning-end``, likewise
``tool.start``     ``tool-input-available`` with ``dynamic: true`` (the frontend does not
                   declare the gateway's tools) and ``providerExecuted: true`` (the gateway
                   ran it: ``useChat`` must not call ``onToolCall`` or resubmit)
``tool.end``       ``tool-output-available`` (``tool-output-error`` when it failed)
``retrieval``      one ``source-document`` per document (``sourceId``, ``title``,
                   ``filename`` = source, ``mediaType: text/plain``; the snippet in
                   ``providerMetadata.tokenwire``)
``run.restart``    ``reset-step`` then ``start-step``: the AI SDK drops the step's parts —
                   exactly "discard what you have" — and the fallback's answer follows
``guardrail``      ``data-guardrail`` (a data part, so the UI can say what was redacted)
``custom``         ``data-<name>`` with the event's ``data`` (``data-custom`` when it has no
                   name: a ``get_stream_writer()`` payload); no ``id``, so each is a part of
                   its own, in order with the text. A name the gateway uses for its own
                   parts (``guardrail``, ``node``) goes out as ``data-custom-<name>``, so
                   those parts stay the gateway's
``node.start``     ``data-node``, ``transient`` (``useChat``'s ``onData`` sees it, the
``node.end``       message does not keep it): ``{phase: start|end, name, step}``
``approval.``     ``tool-input-available`` ``{toolCallId: call_id, toolName: name, input:
``required``       args, dynamic: true}`` (unless that call's input went out already), then
                   ``tool-approval-request`` ``{approvalId: call_id, toolCallId: call_id}``:
                   ``useChat`` shows the call as ``approval-requested`` and
                   ``addToolApprovalResponse`` answers it (see :mod:`.ai_sdk_api`)
``interrupt``      ``data-interrupt`` ``{interrupt_id, value}`` — only for an interrupt that
                   asks no tool approval (a HITL request is its ``approval.required`` parts)
``error``          ``error`` with the safe message — or, for ``cancelled``, ``abort``
``run.end``        ``finish-step``, ``finish`` (``finishReason``: stop / length /
                   content-filter / error / interrupted (cancelled) / tool-calls (paused
                   for approvals) / other (paused at another interrupt); ``messageMetadata``:
                   status — ``interrupted`` for a paused thread — and usage), ``[DONE]``
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tokenwire.events import ErrorCode, Event, EventType
from tokenwire.langchain.approvals import approvals_of

__all__ = [
    "DONE",
    "HEADERS",
    "UIMessageStreamEncoder",
    "approval_decisions",
    "messages_from_ui",
    "new_turn",
]

DONE = b"data: [DONE]\n\n"
HEADERS = {"x-vercel-ai-ui-message-stream": "v1"}

_FINISH = {
    "completed": "stop",
    "truncated": "length",
    "blocked": "content-filter",
    "failed": "error",
    "cancelled": "interrupted",
}


def messages_from_ui(ui_messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``useChat``'s UI messages → OpenAI-style messages: each message's text parts joined.

    Tool, file, source and data parts of earlier turns are dropped — the runnable sees the
    conversation as text — and messages with no text are skipped.
    """
    messages = []
    for message in ui_messages:
        parts = message.get("parts") or []
        text = "".join(
            str(p.get("text", "")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
        )
        if text and message.get("role") in {"user", "assistant", "system"}:
            messages.append({"role": message["role"], "content": text})
    return messages


def approval_decisions(ui_messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The approvals ``useChat`` answered (``addToolApprovalResponse``), as the decisions
    of ``POST /v1/threads/{id}/approvals``: the tool parts of the *last* message — an
    assistant's, as the AI SDK sends it back — in state ``approval-responded`` (``approval:
    {id, approved, reason?}``; ``id`` is the ``approvalId`` sent, the call id). Approved is
    ``approve``, not approved ``reject`` with the reason as its message. Empty when the
    request is no approval answer."""
    if not ui_messages or ui_messages[-1].get("role") != "assistant":
        return []
    decisions = []
    for part in ui_messages[-1].get("parts") or []:
        if not isinstance(part, dict) or part.get("state") != "approval-responded":
            continue
        approval = part.get("approval")
        if not isinstance(approval, dict) or not isinstance(approval.get("id"), str):
            continue
        decision: dict[str, Any] = {"call_id": approval["id"]}
        if approval.get("approved") is True:
            decision["type"] = "approve"
        else:
            decision["type"] = "reject"
            if isinstance(approval.get("reason"), str) and approval["reason"]:
                decision["message"] = approval["reason"]
        decisions.append(decision)
    return decisions


def new_turn(ui_messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages after the last assistant message: what a chat on a LangGraph thread
    sends (the thread's checkpoint holds the conversation before them)."""
    for index in range(len(ui_messages) - 1, -1, -1):
        if ui_messages[index].get("role") == "assistant":
            return list(ui_messages[index + 1 :])
    return list(ui_messages)


#: The data parts the gateway itself sends: a custom event may not pass for one of them.
_GATEWAY_DATA_PARTS = frozenset({"guardrail", "node", "interrupt"})


def _custom_part(data: dict[str, Any]) -> dict[str, Any]:
    name = data.get("name")
    if not name:
        name = "custom"
    elif name in _GATEWAY_DATA_PARTS:
        name = f"custom-{name}"
    return {"type": f"data-{name}", "data": data.get("data")}


def _part(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class UIMessageStreamEncoder:
    """One run's events as UI message stream parts; keeps which text/reasoning block is
    open, so it must see every event of the run in order (one instance per response)."""

    __slots__ = ("_approvals", "_calls", "_open", "_usage", "closed")

    def __init__(self) -> None:
        self.closed = False
        #: (kind, id) of the text or reasoning block being streamed, if any.
        self._open: tuple[str, str] | None = None
        self._usage: dict[str, Any] | None = None
        #: Tool calls whose input part went out (an approval must not repeat it).
        self._calls: set[str] = set()
        #: Interrupt ids whose approvals went out.
        self._approvals: set[str] = set()

    def encode(self, events: Sequence[Event]) -> bytes:
        return b"".join([self._encode(event) for event in events])

    def _delta(self, kind: str, seq: int, text: str) -> bytes:
        opened = b""
        if self._open is None or self._open[0] != kind:
            opened = self._close()
            self._open = (kind, f"{kind}-{seq}")
            opened += _part({"type": f"{kind}-start", "id": self._open[1]})
        return opened + _part({"type": f"{kind}-delta", "id": self._open[1], "delta": text})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        (kind, id), self._open = self._open, None
        return _part({"type": f"{kind}-end", "id": id})

    def _encode(self, event: Event) -> bytes:
        kind, data = event.type, event.data
        if kind == EventType.TOKEN:
            return self._delta("text", event.seq, data["text"])
        if kind == EventType.REASONING:
            return self._delta("reasoning", event.seq, data["text"])
        if kind == EventType.USAGE:
            self._usage = data
            return b""
        return self._close() + self._other(kind, data)

    def _other(self, kind: str, data: dict[str, Any]) -> bytes:
        if kind == EventType.RUN_START:
            metadata = {k: data.get(k) for k in ("run_id", "route", "trace_id")}
            start = {"type": "start", "messageId": data["run_id"], "messageMetadata": metadata}
            return _part(start) + _part({"type": "start-step"})
        if kind == EventType.TOOL_START:
            self._calls.add(data["call_id"])
            return _part(
                {
                    "type": "tool-input-available",
                    "toolCallId": data["call_id"],
                    "toolName": data["name"],
                    "input": data["args"],
                    "dynamic": True,
                    "providerExecuted": True,
                }
            )
        if kind == EventType.APPROVAL_REQUIRED:
            return self._approval(data)
        if kind == EventType.INTERRUPT:
            if approvals_of(str(data.get("interrupt_id")), data.get("value")):
                return b""  # its approval.required events follow: they are the parts
            value = {"interrupt_id": data.get("interrupt_id"), "value": data.get("value")}
            return _part({"type": "data-interrupt", "data": value})
        if kind == EventType.TOOL_END:
            return _part(_tool_output(data))
        if kind == EventType.RETRIEVAL:
            return b"".join(_part(_source(d)) for d in data["documents"])
        if kind == EventType.GUARDRAIL:
            return _part({"type": "data-guardrail", "data": data})
        if kind == EventType.CUSTOM:
            return _part(_custom_part(data))
        if kind in (EventType.NODE_START, EventType.NODE_END):
            phase = "start" if kind == EventType.NODE_START else "end"
            progress = {"phase": phase, "name": data.get("name"), "step": data.get("step")}
            return _part({"type": "data-node", "data": progress, "transient": True})
        if kind == EventType.ERROR:
            if data.get("code") == ErrorCode.CANCELLED:
                return _part({"type": "abort", "reason": data.get("message", "")})
            return _part({"type": "error", "errorText": data.get("message", "the run failed")})
        if kind == EventType.RESTART:
            return _part({"type": "reset-step"}) + _part({"type": "start-step"})
        if kind == EventType.RUN_END:
            self.closed = True
            status = data.get("status", "failed")
            metadata = {"status": status, "usage": self._usage or data.get("usage")}
            reason = _FINISH.get(status, "other")
            if status == "interrupted":  # a paused thread, not a cancelled run
                reason = "tool-calls" if self._approvals else "other"
            finish = {
                "type": "finish",
                "finishReason": reason,
                "messageMetadata": metadata,
            }
            return _part({"type": "finish-step"}) + _part(finish) + DONE
        return b""

    def _approval(self, data: dict[str, Any]) -> bytes:
        call_id = str(data["call_id"])
        self._approvals.add(str(data.get("interrupt_id")))
        parts = b""
        if call_id not in self._calls:
            self._calls.add(call_id)
            tool = {
                "type": "tool-input-available",
                "toolCallId": call_id,
                "toolName": data.get("name", ""),
                "input": data.get("args"),
                "dynamic": True,
            }
            parts = _part(tool)
        request = {"type": "tool-approval-request", "approvalId": call_id, "toolCallId": call_id}
        return parts + _part(request)


def _tool_output(data: dict[str, Any]) -> dict[str, Any]:
    base = {"toolCallId": data["call_id"], "dynamic": True, "providerExecuted": True}
    if data.get("error") is not None:
        return {"type": "tool-output-error", **base, "errorText": str(data["error"])}
    return {"type": "tool-output-available", **base, "output": data.get("output")}


def _source(document: dict[str, Any]) -> dict[str, Any]:
    source: dict[str, Any] = {
        "type": "source-document",
        "sourceId": str(document.get("id") or document.get("source") or ""),
        "mediaType": "text/plain",
        "title": str(document.get("title") or document.get("source") or ""),
        "providerMetadata": {"tokenwire": {"snippet": document.get("snippet")}},
    }
    if document.get("source"):
        source["filename"] = str(document["source"])
    return source
