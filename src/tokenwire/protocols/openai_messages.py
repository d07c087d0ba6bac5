"""OpenAI Chat Completions ``messages``, every shape the API accepts, checked and put in
the form LangChain converts to the right messages (``convert_to_messages``).

The result stays plain JSON (the run's input is audited, fingerprinted for idempotency and
published to other replicas as JSON), and LangChain's conversion then gives:

=============  ==========================================================================
role           LangChain message
=============  ==========================================================================
``system``     ``SystemMessage``
``developer``  ``SystemMessage`` with ``additional_kwargs["__openai_role__"] = "developer"``
               (what ``langchain-openai`` sends back as that role)
``user``       ``HumanMessage``; content parts (``text``, ``image_url``, ``input_audio``,
               ``file``) are kept as they are: LangChain's chat models take OpenAI's blocks
``assistant``  ``AIMessage``: ``content`` may be ``null`` or absent (with ``tool_calls``) or
               parts (``text``, ``refusal``); ``tool_calls`` become LangChain tool calls,
               their ``arguments`` parsed (a JSON object, else a 400); ``function_call``,
               ``refusal``, ``audio`` go in ``additional_kwargs``
``tool``       ``ToolMessage`` (``tool_call_id`` required)
``function``   ``FunctionMessage`` (deprecated by OpenAI, still accepted; ``name`` required)
=============  ==========================================================================

``name`` is kept on every role that has it. A message that does not fit is an
:class:`~tokenwire.errors.InvalidRequest` naming it (``messages[2].tool_call_id: ...``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from tokenwire.errors import InvalidRequest

__all__ = ["chat_messages"]

Content = str | list[dict[str, Any]]
#: A message in the dict form ``convert_to_messages`` reads (``role``, ``content``, ...).
Message = dict[str, Any]


class _Bad(ValueError):
    """One thing wrong with one message: ``field`` (relative to it) and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


def chat_messages(messages: list[Any]) -> list[Message]:
    """Every message converted, or an ``InvalidRequest`` listing each one that is not valid."""
    converted: list[Message] = []
    errors: list[str] = []
    for index, message in enumerate(messages):
        try:
            converted.append(_convert(message))
        except _Bad as bad:
            where = f"messages[{index}]" + (f".{bad.field}" if bad.field else "")
            errors.append(f"{where}: {bad}")
    if errors:
        raise InvalidRequest(errors)
    return converted


def _convert(message: Any) -> Message:
    if not isinstance(message, Mapping):
        raise _Bad("", "must be an object")
    role = message.get("role")
    convert = _BY_ROLE.get(role) if isinstance(role, str) else None
    if convert is None:
        raise _Bad("role", f"must be one of {', '.join(_BY_ROLE)}")
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        raise _Bad("name", "must be a string")
    return convert(message)


def _system(message: Mapping[str, Any]) -> Message:
    return _named(message, role=message["role"], content=_content(message, parts=("text",)))


def _user(message: Mapping[str, Any]) -> Message:
    return _named(message, role="user", content=_content(message, parts=None))


def _assistant(message: Mapping[str, Any]) -> Message:
    raw_calls = message.get("tool_calls") or []
    function_call = message.get("function_call")
    optional = bool(raw_calls) or function_call is not None
    content = _content(message, parts=("text", "refusal"), optional=optional)
    if not isinstance(raw_calls, list):
        raise _Bad("tool_calls", "must be a list")
    converted = _named(message, role="assistant", content=content)
    if raw_calls:
        converted["tool_calls"] = [
            _tool_call(raw, f"tool_calls[{index}]") for index, raw in enumerate(raw_calls)
        ]
    if function_call is not None:
        name, arguments, _ = _function({"function": function_call}, "function_call")
        converted["function_call"] = {"name": name, "arguments": arguments}
    for key in ("refusal", "audio"):
        if message.get(key) is not None:
            converted[key] = message[key]
    return converted


def _tool_call(raw: Any, where: str) -> dict[str, Any]:
    """An OpenAI tool call as a LangChain one (``{name, args, id, type}``)."""
    name, arguments, call_id = _function(raw, where)
    try:
        args = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise _Bad(f"{where}.function.arguments", "must be a JSON object")
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def _tool(message: Mapping[str, Any]) -> Message:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _Bad("tool_call_id", "required: the id of the tool call this message answers")
    content = _content(message, parts=("text",))
    return _named(message, role="tool", content=content, tool_call_id=call_id)


def _function_message(message: Mapping[str, Any]) -> Message:
    if not message.get("name"):
        raise _Bad("name", "required on a function message")
    content = _content(message, parts=("text",), optional=True)
    return _named(message, role="function", content=content)


def _named(message: Mapping[str, Any], **fields: Any) -> Message:
    name = message.get("name")
    return {**fields, "name": name} if name is not None else fields


_BY_ROLE: dict[str, Callable[[Mapping[str, Any]], Message]] = {
    "system": _system,
    "developer": _system,
    "user": _user,
    "assistant": _assistant,
    "tool": _tool,
    "function": _function_message,
}


def _content(
    message: Mapping[str, Any], *, parts: tuple[str, ...] | None, optional: bool = False
) -> Content:
    """The message's content: a string, or its parts (only ``parts`` types; None: any).

    ``optional``: ``null`` or absent is allowed (an assistant message carrying tool calls),
    and is the empty string LangChain expects."""
    content = message.get("content")
    if content is None:
        if optional:
            return ""
        raise _Bad("content", "required")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _Bad("content", "must be a string or a list of content parts")
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        if not isinstance(kind, str):
            raise _Bad(f"content[{index}]", "a content part is an object with a 'type'")
        if parts is not None and kind not in parts:
            allowed = " or ".join(repr(p) for p in parts)
            raise _Bad(f"content[{index}].type", f"must be {allowed} for this role")
    return [dict(part) for part in content]


def _function(raw: Any, where: str) -> tuple[str, str, str | None]:
    """``(name, arguments, id)`` of a tool call (``{id, type, function: {name, arguments}}``)."""
    function = raw.get("function") if isinstance(raw, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise _Bad(f"{where}.function", "must be an object with a 'name'")
    arguments = function.get("arguments", "")
    if not isinstance(arguments, str):
        raise _Bad(f"{where}.function.arguments", "must be a string (JSON text)")
    call_id = raw.get("id") if isinstance(raw, Mapping) else None
    if call_id is not None and not isinstance(call_id, str):
        raise _Bad(f"{where}.id", "must be a string")
    return function["name"], arguments, call_id
