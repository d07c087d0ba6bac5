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
``error``          ``error`` with the safe message — or, for ``cancelled``, ``abort``
``run.end``        ``finish-step``, ``finish`` (``finishReason``: stop / length /
                   content-filter / error / interrupted; ``messageMetadata``: status and
                   usage), ``[DONE]``
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tokenwire.events import ErrorCode, Event, EventType

__all__ = ["DONE", "HEADERS", "UIMessageStreamEncoder", "messages_from_ui"]

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


#: The data parts the gateway itself sends: a custom event may not pass for one of them.
_GATEWAY_DATA_PARTS = frozenset({"guardrail", "node"})


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

    __slots__ = ("_open", "_usage", "closed")

    def __init__(self) -> None:
        self.closed = False
        #: (kind, id) of the text or reasoning block being streamed, if any.
        self._open: tuple[str, str] | None = None
        self._usage: dict[str, Any] | None = None

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
            finish = {
                "type": "finish",
                "finishReason": _FINISH.get(status, "other"),
                "messageMetadata": metadata,
            }
            return _part({"type": "finish-step"}) + _part(finish) + DONE
        return b""


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
