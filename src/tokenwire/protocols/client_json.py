"""The one JSON parser for what clients send: every HTTP body and WebSocket message.

One policy for every front end, so a value that one protocol accepts can never poison
what another stores or encodes:

- the text must be valid UTF-8, and a string may not hold a lone UTF-16 surrogate
  (``"\\ud800"`` escaped or not). Python's ``json`` accepts those and makes strings that
  cannot be encoded again — not to the provider, not to the audit trail; I-JSON (RFC 7493)
  forbids them, and so does orjson, which parses here;
- containers nest at most :data:`MAX_DEPTH` levels. orjson parses 1024 but encodes only 254,
  and a run's input is encoded again inside events, audit records and provider requests,
  each a few levels deeper; LangChain converts nested input recursively.

A refusal is :class:`InvalidJSON`, a ``json.JSONDecodeError``: FastAPI reports it like its
own parse errors (``json_invalid``), and each protocol in its own error format.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "InvalidJSON", "loads"]

#: Levels of arrays and objects a client's JSON may nest, the outermost counting as one.
MAX_DEPTH = 64


class InvalidJSON(json.JSONDecodeError):
    """Client JSON refused; ``reason`` is one readable line (position included, if known)."""

    def __init__(self, reason: str, pos: int = 0) -> None:
        ValueError.__init__(self, reason)
        # What ``json.JSONDecodeError`` readers (FastAPI) take: never the client's text.
        self.msg, self.doc, self.pos = reason, "", pos
        self.lineno, self.colno = 1, pos + 1
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidJSON], tuple[str, int]]:
        return type(self), (self.reason, self.pos)


def loads(raw: bytes | bytearray | memoryview | str) -> Any:
    """``raw`` parsed, or :class:`InvalidJSON`."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(_readable(exc), exc.pos) from None
    if _may_nest_deeper(raw) and _deeper_than(value, MAX_DEPTH):
        raise InvalidJSON(f"arrays and objects nest deeper than {MAX_DEPTH} levels")
    return value


def _readable(exc: orjson.JSONDecodeError) -> str:
    if exc.msg.startswith("str is not valid UTF-8"):
        # orjson says this of any bytes that do not decode, surrogates or not.
        return "the text is not valid UTF-8 (or holds a lone surrogate)"
    return str(exc)


def _may_nest_deeper(raw: bytes | bytearray | memoryview | str) -> bool:
    """A cheap bound first: fewer opening brackets than the limit cannot nest past it."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{") > MAX_DEPTH
    data = bytes(raw) if isinstance(raw, memoryview) else raw
    return data.count(b"[") + data.count(b"{") > MAX_DEPTH


def _deeper_than(value: Any, limit: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
