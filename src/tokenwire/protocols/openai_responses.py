"""OpenAI Responses API: canonical events → ``response.*`` stream events and ``response``.

The openai SDK's newer default (``client.responses.create`` / ``.stream``). The same run
as a Chat Completions stream (:mod:`.openai`), told with the Responses vocabulary, so the
same rules hold: tools the gateway ran are not surfaced, only tool calls the run
*returns* (``function_call`` items, for the client to execute); ``custom`` and node events
have no place; a fallback restart cannot be retracted from an append-only stream.

A stream is ``event: <type>`` / ``data: <json>`` pairs, each with a ``sequence_number``:

- ``run.start`` → ``response.created``, ``response.in_progress`` (status ``in_progress``);
- the first ``token`` → ``response.output_item.added`` (a ``message`` item) and
  ``response.content_part.added`` (an ``output_text`` part); each ``token`` →
  ``response.output_text.delta``; ``reasoning`` is not carried;
- ``run.end`` → the text closed (``response.output_text.done``,
  ``response.content_part.done``, ``response.output_item.done``), each returned tool
  call as a ``function_call`` item (added, ``response.function_call_arguments.delta`` /
  ``.done``, done), then the response: ``completed`` (and ``interrupted``, with the
  ``interrupt`` extension field of the Chat Completions encoder) → ``response.completed``;
  ``truncated`` → ``response.incomplete`` (``incomplete_details.reason:
  "max_output_tokens"``), ``blocked`` → ``response.incomplete`` (``"content_filter"``);
  ``failed`` / ``cancelled`` → ``response.failed`` with ``error``;
- ``run.restart`` → an ``error`` event (``code: "restarted"``), and the stream ends.

``usage`` is the response's ``usage`` (``input_tokens``, ``output_tokens``,
``total_tokens`` and their details).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from tokenwire.events import Event, EventType
from tokenwire.protocols.openai import RESTARTED, RunPause, returned_tool_calls, run_error
from tokenwire.protocols.subscription import EventEncoder

__all__ = ["ResponsesEncoder", "response_object"]

_INCOMPLETE = {"truncated": "max_output_tokens", "blocked": "content_filter"}
_COMPLETE = frozenset({"completed", "interrupted"})


class ResponsesEncoder(EventEncoder):
    """One run's events as a Responses API stream; :attr:`response` is the response
    object as it stands (complete once the run ended)."""

    __slots__ = ("_message_id", "_pause", "_seq", "_text", "response")

    def __init__(self, run_id: str, model: str, echo: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.response: dict[str, Any] = {
            "id": f"resp_{run_id}",
            "object": "response",
            "created_at": int(time.time()),
            "model": model,
            "status": "in_progress",
            "output": [],
            "error": None,
            "incomplete_details": None,
            "usage": None,
            "tools": [],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            **(echo or {}),
        }
        self._message_id = f"msg_{run_id}"
        self._text: list[str] | None = None  # None until the message item is open
        self._seq = 0
        self._pause = RunPause()

    def _event(self, type: str, **fields: Any) -> bytes:
        body = {"type": type, "sequence_number": self._seq, **fields}
        self._seq += 1
        return b"event: " + type.encode() + b"\ndata: " + orjson.dumps(body) + b"\n\n"

    def _encode(self, event: Event) -> bytes:
        kind, data = event.type, event.data
        self._pause.see(event)
        if kind == EventType.TOKEN:
            opening = b"" if self._text is not None else self._open_message()
            self._text.append(data["text"])  # type: ignore[union-attr]
            return opening + self._event(
                "response.output_text.delta",
                item_id=self._message_id,
                output_index=0,
                content_index=0,
                delta=data["text"],
                logprobs=[],
            )
        if kind == EventType.RUN_START:
            created = self._event("response.created", response=self.response)
            return created + self._event("response.in_progress", response=self.response)
        if kind == EventType.USAGE:
            self.response["usage"] = _usage(data)
            return b""
        if kind == EventType.RUN_END:
            self.closed = True
            return self._end(data)
        if kind == EventType.RESTART:
            self.closed = True
            return self._event("error", code="restarted", message=RESTARTED, param=None)
        return b""

    def _open_message(self) -> bytes:
        self._text = []
        item = {**self._message("in_progress"), "content": []}
        added = self._event("response.output_item.added", output_index=0, item=item)
        return added + self._event(
            "response.content_part.added",
            item_id=self._message_id,
            output_index=0,
            content_index=0,
            part=_text_part(""),
        )

    def _message(self, status: str) -> dict[str, Any]:
        text = "".join(self._text or ())
        return {
            "id": self._message_id,
            "type": "message",
            "role": "assistant",
            "status": status,
            "content": [_text_part(text)],
        }

    def _end(self, end: dict[str, Any]) -> bytes:
        status = end.get("status")
        parts = [self._close_message(status)] if self._text is not None else []
        if status == "completed":
            parts += [self._call(call) for call in returned_tool_calls(end.get("output"))]
        response = self.response
        if status in _COMPLETE:
            response["status"] = "completed"
            response.update(self._pause.field(status))
            parts.append(self._event("response.completed", response=response))
        elif status in _INCOMPLETE:
            response["status"] = "incomplete"
            response["incomplete_details"] = {"reason": _INCOMPLETE[status]}
            parts.append(self._event("response.incomplete", response=response))
        else:
            error = run_error(end)["error"]
            code = "rate_limit_exceeded" if error["code"] == "rate_limited" else "server_error"
            response["status"] = "failed"
            response["error"] = {"code": code, "message": error["message"]}
            parts.append(self._event("response.failed", response=response))
        return b"".join(parts)

    def _close_message(self, status: Any) -> bytes:
        text = "".join(self._text or ())
        item = self._message("completed" if status in _COMPLETE else "incomplete")
        self.response["output"].append(item)
        where = {"item_id": self._message_id, "output_index": 0, "content_index": 0}
        return b"".join(
            (
                self._event("response.output_text.done", **where, text=text, logprobs=[]),
                self._event("response.content_part.done", **where, part=_text_part(text)),
                self._event("response.output_item.done", output_index=0, item=item),
            )
        )

    def _call(self, call: dict[str, Any]) -> bytes:
        index = len(self.response["output"])
        arguments = call["function"]["arguments"]
        item = {
            "id": f"fc_{self._message_id[4:]}_{call['index']}",
            "type": "function_call",
            "call_id": call["id"],
            "name": call["function"]["name"],
            "arguments": "",
            "status": "in_progress",
        }
        done = {**item, "arguments": arguments, "status": "completed"}
        self.response["output"].append(done)
        where = {"item_id": item["id"], "output_index": index}
        return b"".join(
            (
                self._event("response.output_item.added", output_index=index, item=item),
                self._event("response.function_call_arguments.delta", **where, delta=arguments),
                self._event("response.function_call_arguments.done", **where, arguments=arguments),
                self._event("response.output_item.done", output_index=index, item=done),
            )
        )


def response_object(
    run_id: str, model: str, events: Sequence[Event], echo: Mapping[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """A finished run as a non-streaming ``response``: ``(status_code, body)``. A run that
    failed or was cancelled is an OpenAI error body, 502 (the provider failed) or 500, as
    on Chat Completions; the text after a restart is the answer."""
    last_restart = max((n for n, e in enumerate(events) if e.type == EventType.RESTART), default=-1)
    encoder = ResponsesEncoder(run_id, model, echo)
    encoder.encode([e for n, e in enumerate(events) if n > last_restart or _kept(e)])
    body = encoder.response
    if body["status"] == "failed" or body["status"] == "in_progress":
        end = next((e.data for e in events if e.type == EventType.RUN_END), {})
        error = run_error(end)
        upstream = error["error"]["code"] in {"upstream_error", "upstream_timeout"}
        return (502 if upstream else 500), error
    return 200, body


def _kept(event: Event) -> bool:
    """What a restart does not take back: the run's start, its pause, its usage."""
    return event.type in (
        EventType.RUN_START,
        EventType.USAGE,
        EventType.INTERRUPT,
        EventType.APPROVAL_REQUIRED,
    )


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _usage(data: Mapping[str, Any]) -> dict[str, Any]:
    prompt = int(data.get("input_tokens") or 0)
    completion = int(data.get("output_tokens") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(data.get("cached_input_tokens") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }
