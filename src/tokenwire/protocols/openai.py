"""OpenAI Chat Completions: canonical events → ``chat.completion(.chunk)`` objects.

Mapping (one choice, index 0; ``model`` is the route name):

- ``run.start`` → a role chunk (``delta: {role: "assistant", content: ""}``);
- ``token`` → ``delta.content``; ``reasoning`` → ``delta.reasoning_content`` (the field
  OpenAI-compatible servers such as vLLM and DeepSeek use; the SDK keeps unknown fields);
- ``tool.start`` / ``tool.end`` are **not** surfaced: the gateway already ran those tools
  server-side, and a ``tool_calls`` delta tells an OpenAI client to execute the call itself
  and send back a ``tool`` message — it would run the tool twice or stall waiting. Only
  tool calls the run *returns* (a model bound with tools, its output an AI message with
  ``tool_calls``) become ``tool_calls`` with ``finish_reason: "tool_calls"``: those really
  are the client's to execute. They are known once the model's answer is, so they are
  streamed at the end, as OpenAI streams each call: a ``delta.tool_calls`` chunk with its
  ``index``, ``id``, ``type`` and ``function.name`` (``arguments: ""``), then one with its
  ``arguments``;
- ``custom``, ``node.start`` / ``node.end`` are **not** carried: Chat Completions has no
  place for them (an unknown delta field would be dropped or, worse, read as text); use
  the native stream, WebSocket, the AI SDK or LangServe ``stream_events`` for them;
- ``run.end`` → the finish chunk: ``completed`` → ``stop`` (or ``tool_calls``),
  ``truncated`` → ``length``, ``blocked`` → ``content_filter``, ``interrupted`` (a
  LangGraph graph paused at ``interrupt()``) → ``stop`` with an extension field
  ``interrupt: {thread_id, interrupts: [{interrupt_id, value}], approvals: [...]}`` on
  that chunk (``approvals``: the ``approval.required`` events' data); a non-streaming
  completion carries the same field at its top level. The OpenAI SDK keeps unknown
  fields (``chunk.model_extra["interrupt"]``); resume the thread on the native API
  (``POST /v1/threads/{thread_id}/approvals`` or a start with ``command``); then, with
  ``stream_options.include_usage``, a usage chunk (``choices: []``); then ``data: [DONE]``;
- ``run.restart`` (a fallback starts the answer over) cannot be expressed: chunks are
  append-only and clients would show the discarded text glued to the new one. The stream
  ends with an error object (``code: "restarted"``) instead of a corrupted answer; a
  non-streaming completion simply holds the text after the restart;
- a ``failed`` or ``cancelled`` run instead ends with an error object
  ``data: {"error": {message, type, param, code}}`` and **no** ``[DONE]``: the OpenAI SDK
  raises ``APIError`` on it, and a client that ignores it still sees the stream as
  incomplete rather than silently truncated.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from tokenwire.events import ErrorCode, Event, EventType
from tokenwire.protocols.subscription import EventEncoder

__all__ = [
    "DONE",
    "RESTARTED",
    "ChatCompletionEncoder",
    "RunPause",
    "chat_completion",
    "error_body",
    "returned_tool_calls",
    "run_error",
    "usage_of",
]

DONE = b"data: [DONE]\n\n"
RESTARTED = (
    "the answer restarted on a fallback, which an OpenAI stream cannot retract; retry the request"
)

_FINISH = {
    "completed": "stop",
    "truncated": "length",
    "blocked": "content_filter",
    "interrupted": "stop",
}
_ERROR_TYPES = {
    ErrorCode.RATE_LIMITED.value: "rate_limit_error",
    ErrorCode.POLICY_VIOLATION.value: "invalid_request_error",
}


def error_body(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error object (the body of an error response, or an in-stream error)."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def usage_of(data: dict[str, Any]) -> dict[str, int]:
    """A canonical ``usage`` event's data in OpenAI's ``usage`` shape."""
    prompt = int(data.get("input_tokens") or 0)
    completion = int(data.get("output_tokens") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def returned_tool_calls(output: Any) -> list[dict[str, Any]]:
    """Tool calls the run returned for the client to execute (see module docstring)."""
    if not isinstance(output, dict) or not isinstance(output.get("tool_calls"), list):
        return []
    return [
        {
            "index": index,
            "id": call.get("id") or f"call_{index}",
            "type": "function",
            "function": {
                "name": call.get("name", ""),
                "arguments": orjson.dumps(call.get("args") or {}).decode(),
            },
        }
        for index, call in enumerate(output["tool_calls"])
        if isinstance(call, dict)
    ]


def run_error(end: dict[str, Any]) -> dict[str, Any]:
    error = end.get("error") or {"code": "internal", "message": "the run failed"}
    code = str(error.get("code", "internal"))
    return error_body(str(error.get("message", "")), _ERROR_TYPES.get(code, "server_error"), code)


class RunPause:
    """What a run that pauses says about it: the ``interrupt`` extension field."""

    __slots__ = ("approvals", "interrupts", "thread_id")

    def __init__(self) -> None:
        self.thread_id: str | None = None
        self.interrupts: list[dict[str, Any]] = []
        self.approvals: list[dict[str, Any]] = []

    def see(self, event: Event) -> None:
        if event.type == EventType.RUN_START:
            self.thread_id = event.data.get("thread_id")
        elif event.type == EventType.INTERRUPT:
            self.interrupts.append(event.data)
        elif event.type == EventType.APPROVAL_REQUIRED:
            self.approvals.append(event.data)

    def field(self, status: Any) -> dict[str, Any]:
        if status != "interrupted":
            return {}
        pause = {"thread_id": self.thread_id, "interrupts": self.interrupts}
        return {"interrupt": {**pause, "approvals": self.approvals}}


class ChatCompletionEncoder(EventEncoder):
    """Encodes one run's events as a ``chat.completion.chunk`` SSE stream.

    Per-stream state (whether the usage chunk is wanted, the usage seen so far) lives
    here, one instance per response.
    """

    __slots__ = ("_base", "_include_usage", "_pause", "_usage")

    def __init__(self, run_id: str, model: str, *, include_usage: bool = False) -> None:
        super().__init__()
        self._base = {
            "id": f"chatcmpl-{run_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
        }
        self._include_usage = include_usage
        self._usage: dict[str, int] | None = None
        self._pause = RunPause()

    def _chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
    ) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _data({**self._base, "choices": [choice], **extra})

    def _encode(self, event: Event) -> bytes:
        kind, data = event.type, event.data
        self._pause.see(event)
        if kind == EventType.TOKEN:
            return self._chunk({"content": data["text"]})
        if kind == EventType.REASONING:
            return self._chunk({"reasoning_content": data["text"]})
        if kind == EventType.RUN_START:
            return self._chunk({"role": "assistant", "content": ""})
        if kind == EventType.USAGE:
            self._usage = usage_of(data)
            return b""
        if kind == EventType.RUN_END:
            self.closed = True
            return self._end(data)
        if kind == EventType.RESTART:
            self.closed = True
            return _data(error_body(RESTARTED, "server_error", "restarted"))
        return b""

    def _end(self, end: dict[str, Any]) -> bytes:
        status = end.get("status")
        if status not in _FINISH:
            return _data(run_error(end))
        parts = []
        calls = returned_tool_calls(end.get("output")) if status == "completed" else []
        for call in calls:
            # As OpenAI streams a call: its id and name first, then its arguments.
            opening = {**call, "function": {**call["function"], "arguments": ""}}
            parts.append(self._chunk({"tool_calls": [opening]}))
            arguments = {
                "index": call["index"],
                "function": {"arguments": call["function"]["arguments"]},
            }
            parts.append(self._chunk({"tool_calls": [arguments]}))
        reason = "tool_calls" if calls else _FINISH[status]
        parts.append(self._chunk({}, reason, **self._pause.field(status)))
        if self._include_usage:
            parts.append(_data({**self._base, "choices": [], "usage": self._usage}))
        parts.append(DONE)
        return b"".join(parts)


def chat_completion(run_id: str, model: str, events: Sequence[Event]) -> tuple[int, dict[str, Any]]:
    """A finished run as a non-streaming ``chat.completion``: ``(status_code, body)``.

    A run that failed or was cancelled is an OpenAI error body with status 502 (the
    model provider failed) or 500 (anything else) — never a 200 with a partial answer.
    """
    text: list[str] = []
    reasoning: list[str] = []
    usage = usage_of({})
    end: dict[str, Any] = {}
    pause = RunPause()
    for event in events:
        pause.see(event)
        if event.type == EventType.RESTART:
            text, reasoning = [], []
        elif event.type == EventType.TOKEN:
            text.append(event.data["text"])
        elif event.type == EventType.REASONING:
            reasoning.append(event.data["text"])
        elif event.type == EventType.USAGE:
            usage = usage_of(event.data)
        elif event.type == EventType.RUN_END:
            end = event.data
    status = end.get("status")
    if status not in _FINISH:
        body = run_error(end)
        upstream = body["error"]["code"] in {"upstream_error", "upstream_timeout"}
        return (502 if upstream else 500), body
    calls = returned_tool_calls(end.get("output")) if status == "completed" else []
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text), "refusal": None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if calls:
        message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": "tool_calls" if calls else _FINISH[status],
    }
    return 200, {
        "id": f"chatcmpl-{run_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [choice],
        "usage": usage,
        **pause.field(status),
    }


def _data(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
