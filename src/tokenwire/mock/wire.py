"""OpenAI wire format: ``chat.completion.chunk`` SSE lines, completion bodies, error bodies.

The per-token line is two pre-encoded byte strings around ``orjson.dumps(token)``.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenwire.mock.script import Script

__all__ = ["DONE", "MALFORMED", "ChunkEncoder", "completion_body", "error_body"]

DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"

_ERROR_TYPES = {
    400: ("invalid_request_error", "invalid_request"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


class ChunkEncoder:
    """Encodes the chunks of one streamed completion; constant parts are encoded once."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self._envelope = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        head = b"data: " + orjson.dumps(self._envelope)[:-1] + b',"choices":[{"index":0,"delta":'
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._open = b',"logprobs":null,"finish_reason":null}]' + self._tail
        self._head = head
        self._content_head = head + b'{"content":'
        self._content_tail = b"}" + self._open

    def content(self, token: str) -> bytes:
        return self._content_head + orjson.dumps(token) + self._content_tail

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self._head + orjson.dumps(delta) + self._open

    def finish(self, finish_reason: str) -> bytes:
        return (
            self._head
            + b'{},"logprobs":null,"finish_reason":'
            + orjson.dumps(finish_reason)
            + b"}]"
            + self._tail
        )

    def usage(self, usage: dict[str, int]) -> bytes:
        return b"data: " + orjson.dumps({**self._envelope, "choices": [], "usage": usage}) + b"\n\n"

    def script(self, script: Script) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(lead, reasoning, units) — units are what counts as completion tokens."""
        lead = [self.delta({"role": "assistant", "content": ""})]
        reasoning = [self.delta({"reasoning_content": piece}) for piece in script.reasoning]
        call = script.tool_call
        if call is None:
            return lead, reasoning, [self.content(token) for token in script.tokens]
        header = {
            "index": 0,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        units = [self.delta({"tool_calls": [header]})]
        units += [
            self.delta({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            for piece in call.pieces
        ]
        return lead, reasoning, units


def completion_body(script: Script, completion_id: str, created: int, model: str) -> bytes:
    """A non-streaming ``chat.completion`` JSON body."""
    message: dict[str, Any] = {"role": "assistant", "content": script.text, "refusal": None}
    if script.reasoning:
        message["reasoning_content"] = "".join(script.reasoning)
    if script.tool_call is not None:
        call = script.tool_call
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
        ]
    return orjson.dumps(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": script.finish_reason,
                }
            ],
            "usage": script.usage(),
        }
    )


def error_body(status: int, message: str, code: str | None = None) -> bytes:
    """``{"error": {"message", "type", "param", "code"}}`` as OpenAI sends it."""
    kind, default_code = _ERROR_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    error = {"message": message, "type": kind, "param": None, "code": code or default_code}
    return orjson.dumps({"error": error})
