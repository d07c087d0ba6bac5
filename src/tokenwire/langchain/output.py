"""Turning what a runnable returned into a JSON-serialisable value.

The rule, applied by :func:`final_output` to a runnable's final output:

- a message → its text content (``message.text``: the text blocks joined); an AI message
  that asked for tool calls → ``{"type": "ai", "content": text, "tool_calls": [...]}``
  so the calls are not silently lost;
- a ``str`` → itself;
- a mapping with a non-empty ``"messages"`` list ending in a message (a LangGraph
  agent/graph state) → the last message's text content; the rest of the state is dropped;
- anything else → :func:`to_jsonable`.

:func:`to_jsonable` handles nested values (tool outputs, chain outputs, documents):

- ``None``, ``bool``, ``int``, ``float``, ``str`` → as they are;
- a message → ``{"type", "content"}`` (plus ``tool_calls`` / ``tool_call_id`` when set),
  so roles survive inside lists;
- a pydantic model (``Document`` included) → its ``model_dump()``, converted recursively;
- a dataclass → its fields; a mapping → a dict with ``str`` keys; list/tuple/set → a list;
- ``Enum`` → its value; ``datetime``/``date``/``time`` → ISO 8601; ``bytes`` → UTF-8 text
  (replacement characters for invalid bytes); ``UUID``, ``Decimal`` and anything else →
  ``str(value)``. Nesting deeper than 32 levels (or a cycle) ends as ``str``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from pydantic import BaseModel

__all__ = ["Shape", "final_output", "message_text", "to_jsonable", "tool_output"]

#: How :func:`final_output` shapes an output (``"text"`` is the recorder's, not ours).
Shape = Literal["auto", "text", "state", "messages"]

_MAX_DEPTH = 32


def message_text(message: BaseMessage) -> str:
    """The text content of ``message`` as a plain ``str``."""
    content = message.content
    if isinstance(content, str):
        return content
    return str(message.text)


def final_output(value: Any, shape: Shape = "auto") -> Any:
    """The JSON-serialisable form of a runnable's final output (see module docstring);
    ``shape`` ``"state"``: all of it as plain JSON, ``"messages"``: only its messages."""
    if shape == "state":
        return to_jsonable(value)
    if shape == "messages":
        return to_jsonable(_messages(value))
    if isinstance(value, str):
        return value
    if isinstance(value, BaseMessage):
        if isinstance(value, AIMessage) and value.tool_calls:
            return _message_dict(value, 0)
        return message_text(value)
    if isinstance(value, Mapping):
        messages = value.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], BaseMessage):
            return message_text(messages[-1])
    return to_jsonable(value)


def _messages(value: Any) -> list[Any]:
    """The messages of a state (``{"messages": [...]}``), a message list or one message."""
    if isinstance(value, Mapping):
        value = value.get("messages", [])
    if isinstance(value, BaseMessage):
        return [value]
    return list(value) if isinstance(value, list | tuple) else []


def tool_output(value: Any) -> Any:
    """A tool's output as JSON: a ``ToolMessage`` becomes its content."""
    if isinstance(value, ToolMessage):
        return to_jsonable(value.content)
    return to_jsonable(value)


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Convert ``value`` to plain JSON types (see module docstring for the rule)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if _depth >= _MAX_DEPTH:
        return str(value)
    depth = _depth + 1
    if isinstance(value, BaseMessage):
        return _message_dict(value, depth)
    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump(), depth)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item, depth) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(item, depth) for item in value]
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, depth)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
        return to_jsonable(fields, depth)
    return str(value)


def _message_dict(message: BaseMessage, depth: int) -> dict[str, Any]:
    content = message.content
    data: dict[str, Any] = {
        "type": message.type,
        "content": content if isinstance(content, str) else message_text(message),
    }
    if isinstance(message, AIMessage) and message.tool_calls:
        data["tool_calls"] = [
            {"id": call["id"], "name": call["name"], "args": to_jsonable(call["args"], depth)}
            for call in message.tool_calls
        ]
    if isinstance(message, ToolMessage):
        data["tool_call_id"] = message.tool_call_id
    return data
