"""An OpenAI Responses API request → the Chat Completions shapes the gateway already reads.

The Responses API says the same things as Chat Completions in other words, so a request is
translated once, here, and then takes the Chat Completions path: its messages through
:func:`~tokenwire.protocols.openai_messages.chat_messages`, its parameters through
:func:`~tokenwire.protocols.openai_params.bind_params` (one mapping to LangChain, one set of
rules for what a route honours).

- ``instructions`` → a leading ``system`` message; ``input`` as a string → one ``user``
  message; as a list, each item: a message (``{role, content}``, ``type: "message"``
  optional; content parts ``input_text`` / ``output_text`` are text), a ``function_call``
  (an assistant tool call) or a ``function_call_output`` (a ``tool`` message). Consecutive
  ``function_call`` items are one assistant turn, as Chat Completions has them.
- Parameters: ``max_output_tokens`` → ``max_tokens`` (the per-run output budget),
  ``tools`` (function tools, flat) → Chat Completions tools, ``tool_choice`` likewise,
  ``text.format`` → ``response_format``; ``temperature``, ``top_p``,
  ``parallel_tool_calls``, ``user``, ``metadata`` as they are.
- Refused (a 400 naming it, unless ``ignore_unsupported_params``): ``previous_response_id``
  and ``conversation`` (the gateway stores no responses: threads are its conversations),
  non-function tools (``web_search``, ``file_search``, …), items of other types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenwire.errors import InvalidRequest

__all__ = ["TranslatedRequest", "translate_request"]

#: Responses parameters with a Chat Completions twin of the same name and meaning.
_SAME = ("temperature", "top_p", "parallel_tool_calls")
#: Accepted and not needed (``store``: nothing is stored either way).
_UNDERSTOOD = frozenset({"model", "input", "instructions", "stream", "store", "user", "metadata"})
#: Accepted where they change nothing the gateway does.
_NO_EFFECT = {"truncation": "disabled", "include": None}


@dataclass(slots=True)
class TranslatedRequest:
    """The request in Chat Completions terms: ``messages`` and ``params`` for
    ``bind_params``; ``unsupported`` names what has no twin (``name: why``)."""

    messages: list[dict[str, Any]]
    params: dict[str, Any]
    unsupported: dict[str, str] = field(default_factory=dict)


def translate_request(body: Mapping[str, Any]) -> TranslatedRequest:
    """``InvalidRequest`` for a body whose ``input`` cannot be read."""
    messages = _messages(body.get("input"), body.get("instructions"))
    unsupported: dict[str, str] = {}
    params = _params(body, unsupported)
    return TranslatedRequest(messages, params, unsupported)


# -- messages ----------------------------------------------------------------------------------
def _messages(input: Any, instructions: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if instructions is not None:
        if not isinstance(instructions, str):
            raise InvalidRequest(["body.instructions: must be a string"])
        messages.append({"role": "system", "content": instructions})
    if isinstance(input, str):
        return [*messages, {"role": "user", "content": input}]
    if not isinstance(input, list) or not input:
        raise InvalidRequest(["body.input: must be a string or a non-empty list of items"])
    errors: list[str] = []
    for n, item in enumerate(input):
        try:
            _add_item(messages, item)
        except _Bad as bad:
            errors.append(f"body.input.{n}: {bad}")
    if errors:
        raise InvalidRequest(errors)
    return messages


class _Bad(ValueError):
    pass


def _add_item(messages: list[dict[str, Any]], item: Any) -> None:
    if not isinstance(item, Mapping):
        raise _Bad("must be an object")
    kind = item.get("type", "message")
    if kind == "message":
        messages.append(_message(item))
    elif kind == "function_call":
        _add_call(messages, item)
    elif kind == "function_call_output":
        output = item.get("output")
        if not isinstance(item.get("call_id"), str):
            raise _Bad("call_id: must be a string")
        text = output if isinstance(output, str) else _text(output, "output")
        messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    else:
        raise _Bad(f"items of type {kind!r} are not supported")


def _message(item: Mapping[str, Any]) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "system", "developer", "assistant"):
        raise _Bad("role: must be user, system, developer or assistant")
    content = item.get("content")
    text = content if isinstance(content, str) else _text(content, "content")
    return {"role": role, "content": text}


def _text(parts: Any, where: str) -> str:
    """Text content parts (``input_text``, ``output_text``, ``text``), joined."""
    if not isinstance(parts, list):
        raise _Bad(f"{where}: must be a string or a list of text parts")
    texts: list[str] = []
    for part in parts:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in ("input_text", "output_text", "text") or not isinstance(
            part.get("text"), str
        ):
            raise _Bad(f"{where}: only text parts are supported (got {kind!r})")
        texts.append(part["text"])
    return "".join(texts)


def _add_call(messages: list[dict[str, Any]], item: Mapping[str, Any]) -> None:
    name, call_id, arguments = item.get("name"), item.get("call_id"), item.get("arguments")
    if not all(isinstance(v, str) for v in (name, call_id, arguments)):
        raise _Bad("a function_call needs string name, call_id and arguments")
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and last.get("tool_calls"):
        last["tool_calls"].append(call)  # parallel calls: one assistant turn
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


# -- parameters --------------------------------------------------------------------------------
def _params(body: Mapping[str, Any], unsupported: dict[str, str]) -> dict[str, Any]:
    params: dict[str, Any] = {k: body[k] for k in _SAME if body.get(k) is not None}
    if body.get("max_output_tokens") is not None:
        params["max_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        params["tools"] = [_tool(tool, unsupported) for tool in body["tools"]]
        params["tools"] = [tool for tool in params["tools"] if tool is not None]
    if body.get("tool_choice") is not None:
        params["tool_choice"] = _tool_choice(body["tool_choice"])
    fmt = (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    if isinstance(fmt, Mapping) and fmt.get("type") not in (None, "text"):
        params["response_format"] = _response_format(fmt)
    handled = _UNDERSTOOD | set(_SAME) | {"max_output_tokens", "tools", "tool_choice", "text"}
    for name, value in body.items():
        if name in handled or value is None or _NO_EFFECT.get(name, object()) == value:
            continue
        if name in ("previous_response_id", "conversation"):
            unsupported[name] = "responses are not stored; continue a conversation on a thread"
        else:
            unsupported[name] = "not carried by the gateway"
    return params


def _tool(tool: Any, unsupported: dict[str, str]) -> dict[str, Any] | None:
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, Mapping) else type(tool).__name__
        unsupported["tools"] = f"only function tools are supported (got {kind!r})"
        return None
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool}
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice  # "auto", "none", "required"


def _response_format(fmt: Mapping[str, Any]) -> dict[str, Any]:
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt.get("type")}
