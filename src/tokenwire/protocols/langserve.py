"""LangServe's wire format from canonical events, so ``langserve.RemoteRunnable`` works.

What a route returns depends on its output *shape*, decided once per route:

- ``"message"`` (the route is a chat model): ``invoke`` returns an ``AIMessage`` and
  ``stream`` yields ``AIMessageChunk`` s — serialized the way LangServe's
  ``WellKnownLCSerializer`` does (a pydantic dump whose ``type`` tag the client decodes
  back into the message class). Usage arrives as a last, empty chunk carrying
  ``usage_metadata``, so the client's ``chunk + chunk`` sum holds it;
- ``"value"`` (anything else): ``invoke`` returns the run's output exactly as the native
  ``run.end.output`` (a LangGraph state is summarized to its answer text there), and
  ``stream`` yields the answer's text deltas as strings.

Streams are SSE with LangServe's event names: ``metadata`` (``{"run_id"}``) first,
``data`` per chunk, then ``end`` — or ``error`` with ``{"status_code", "message"}`` when the
run failed or was cancelled (the client raises ``httpx.HTTPStatusError``). A run that a
guard truncated or blocked ends normally: what was delivered is the answer.

A LangGraph graph that pauses at ``interrupt()`` (run status ``interrupted``) ends
normally too — it is no failure: ``invoke`` returns the output so far, ``stream`` ends
with ``end``. Only ``stream_events`` says *why* it stopped: the ``interrupt`` and
``approval.required`` events are ``on_custom_event`` s of those names (see
:mod:`.langserve_events`). A LangServe request has no thread, so the pause cannot be
resumed here: run on a thread with the native API (``thread_id``), the WebSocket or the
AI SDK endpoint.

``stream_events`` is rebuilt from canonical events (:class:`StreamEventsEncoder`); the
gap to LangChain's own ``astream_events`` is documented there. It is the one LangServe
endpoint that carries custom events (``on_custom_event``), as LangChain's ``astream`` does
not either.

``stream_log`` (``astream_log``'s JSON Patch ops) is rebuilt the same way, by
:class:`~tokenwire.protocols.langserve_log.StreamLogEncoder`.

``run.restart`` (a fallback starts the answer over) cannot be retracted from an
append-only stream: ``stream`` and ``stream_events`` end with an ``error`` event (status
503) rather than glue the discarded text to the new one; ``invoke`` holds the text after
the restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from tokenwire.errors import InvalidRequest
from tokenwire.events import Event, EventType
from tokenwire.protocols.subscription import EventEncoder

__all__ = [
    "RESTARTED",
    "OutputShape",
    "StreamEncoder",
    "ai_message",
    "decode_input",
    "failure",
    "invoke_output",
    "message_chunk",
    "sse",
]

OutputShape = Literal["message", "value"]

#: LangChain message ``type`` tags (as LangServe serializes them) → OpenAI roles.
_ROLES = {
    "human": "user",
    "HumanMessageChunk": "user",
    "ai": "assistant",
    "AIMessageChunk": "assistant",
    "system": "system",
    "SystemMessageChunk": "system",
    "tool": "tool",
    "ToolMessageChunk": "tool",
}
_OK = frozenset({"completed", "truncated", "blocked", "interrupted"})
RESTARTED = {
    "status_code": 503,
    "message": "the answer restarted on a fallback, which a stream cannot retract; retry",
}


def sse(event: str, data: Any = None) -> bytes:
    if data is None:
        return b"event: %s\n\n" % event.encode()
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps(data))


def root_run_id(run_id: str) -> str:
    """The run's LangChain root run id (the gateway uses the run id as its UUID)."""
    return str(uuid.UUID(run_id))


def decode_input(value: Any) -> Any:
    """LangServe clients send messages as serialized LangChain objects (``{"type":
    "human", "content": …, "additional_kwargs": …}``); turn them into the role dicts the
    gateway's input checks understand. Everything else passes through unchanged.

    Raises ``InvalidRequest`` for a message that cannot be one (``tool_calls`` that are
    not objects)."""
    if isinstance(value, list):
        return [decode_input(item) for item in value]
    if not isinstance(value, dict):
        return value
    role = _ROLES.get(str(value.get("type")))
    if role is not None and "content" in value:
        message: dict[str, Any] = {"role": role, "content": value["content"]}
        for key in ("name", "tool_call_id", "id"):
            if value.get(key):
                message[key] = value[key]
        if role == "assistant" and value.get("tool_calls"):
            message["tool_calls"] = _openai_tool_calls(value["tool_calls"])
        return message
    return {key: decode_input(item) for key, item in value.items()}


def _openai_tool_calls(calls: Any) -> list[dict[str, Any]]:
    """A serialized ``AIMessage``'s ``tool_calls`` as OpenAI's; refused unless a list of
    objects (``InvalidRequest``)."""
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        raise InvalidRequest(["input: an AI message's tool_calls must be a list of objects"])
    return [
        {
            "id": call.get("id"),
            "type": "function",
            "function": {
                "name": call.get("name", ""),
                "arguments": orjson.dumps(call.get("args") or {}).decode(),
            },
        }
        for call in calls
    ]


def _usage_metadata(usage: dict[str, Any] | None) -> dict[str, int] | None:
    if not usage:
        return None
    prompt, completion = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    return {
        "input_tokens": prompt,
        "output_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _tool_calls(output: Any) -> list[dict[str, Any]]:
    if not isinstance(output, dict) or not isinstance(output.get("tool_calls"), list):
        return []
    return [
        {
            "name": c.get("name", ""),
            "args": c.get("args") or {},
            "id": c.get("id"),
            "type": "tool_call",
        }
        for c in output["tool_calls"]
        if isinstance(c, dict)
    ]


def message_chunk(run_id: str, text: str, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``AIMessageChunk`` as ``WellKnownLCSerializer`` writes it."""
    return {
        "content": text,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "AIMessageChunk",
        "name": None,
        "id": f"run-{run_id}",
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": _usage_metadata(usage),
        "tool_call_chunks": [],
    }


def ai_message(run_id: str, text: str, output: Any, usage: dict[str, Any] | None) -> dict[str, Any]:
    """The final ``AIMessage`` of a chat-model route."""
    return {
        "content": text,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "ai",
        "name": None,
        "id": f"run-{run_id}",
        "tool_calls": _tool_calls(output),
        "invalid_tool_calls": [],
        "usage_metadata": _usage_metadata(usage),
    }


def failure(end: dict[str, Any]) -> dict[str, Any] | None:
    """LangServe's error payload for a run that did not end well, else None."""
    if end.get("status") in _OK:
        return None
    error = end.get("error") or {}
    upstream = error.get("code") in {"upstream_error", "upstream_timeout"}
    return {
        "status_code": 502 if upstream else 500,
        "message": str(error.get("message") or "the run failed"),
    }


def invoke_output(run_id: str, shape: OutputShape, events: Sequence[Event]) -> Any:
    """``invoke``'s ``output`` from a finished run's events (the run must have ended well)."""
    end = events[-1].data
    if shape == "value":
        return end.get("output")
    text: list[str] = []
    for event in events:
        if event.type == EventType.RESTART:
            text = []
        elif event.type == EventType.TOKEN:
            text.append(event.data["text"])
    return ai_message(run_id, "".join(text), end.get("output"), end.get("usage"))


class StreamEncoder(EventEncoder):
    """``/stream``: the run's events as LangServe ``metadata`` / ``data`` / ``end`` SSE."""

    __slots__ = ("_run_id", "_shape")

    def __init__(self, run_id: str, shape: OutputShape) -> None:
        super().__init__()
        self._run_id = run_id
        self._shape = shape

    def _encode(self, event: Event) -> bytes:
        kind = event.type
        if kind == EventType.TOKEN:
            text = event.data["text"]
            chunk = message_chunk(self._run_id, text) if self._shape == "message" else text
            return sse("data", chunk)
        if kind == EventType.USAGE and self._shape == "message":
            return sse("data", message_chunk(self._run_id, "", event.data))
        if kind == EventType.RUN_START:
            return sse("metadata", {"run_id": root_run_id(self._run_id)})
        if kind == EventType.RUN_END:
            self.closed = True
            error = failure(event.data)
            return sse("end") if error is None else sse("error", error)
        if kind == EventType.RESTART:
            self.closed = True
            return sse("error", RESTARTED)
        return b""
