"""What the mock says: a deterministic reply, tool call and usage for a chat request.

Rules (other tests compute expected output with :func:`reply_text` / :func:`reply_tokens`):

- Last message is a ``tool`` message: ``"The tool returned: " + <its text>``.
- Otherwise: ``"You said: " + <the last user message's text>``.
- The quoted text is whitespace-normalized and cut to its first 40 words; the reply is then
  whitespace-normalized as a whole. With ``tokens=N`` it is cut, or extended by cycling
  :data:`CORPUS`, to exactly N words.
- A token is a word with its trailing whitespace (``\\S+\\s*``); one content delta per token.
- With ``tools`` in the request (and ``tool_choice`` not ``"none"``) and a user message last,
  the reply is one tool call instead: the tool named by ``tool_choice``, else the first tool
  whose name appears in the user message, else the first tool.
- A conversation that names several tools calls each in turn: with a ``tool`` message last,
  the next tool named in the last user message (in the order the text names them) that no
  assistant message has called since is called; once each is, the text reply follows.
  ``"use get_weather and get_time"`` → a ``get_weather`` call, then (its result sent back)
  a ``get_time`` call, then ``"The tool returned: ..."``.
- A tool call's arguments: each parameter of the tool's schema, as ``name=value`` (or
  ``name: value``) in the user message says, else — for a tool of one parameter — as a
  call ``tool_name(value)`` in it says, else its first ``enum`` value, else a placeholder
  of its type (a string parameter: the whole user message).
- ``prompt_tokens`` = ``\\S+`` words in every message's text + 4 per message.
  ``completion_tokens`` = content tokens; for a tool call, argument pieces + 1.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tokenwire.mock.profile import MockProfile

__all__ = [
    "CORPUS",
    "Script",
    "ToolCall",
    "message_text",
    "prompt_tokens",
    "reply_text",
    "reply_tokens",
    "write_script",
]

CORPUS = (
    "The quick brown fox jumps over the lazy dog. "
    "Streaming keeps a reader busy while the model is still thinking. "
    "Every token arrives in order and on time. "
    "A gateway measures what it delivers, not what it hoped to send."
)
REASONING = ("Thinking ", "about ", "it...")
ECHO_WORDS = 40
ARGUMENT_PIECES = 3

_TOKEN = re.compile(r"\S+\s*")
_WORD = re.compile(r"\S+")
_CORPUS_WORDS = tuple(CORPUS.split())
_TRUE = frozenset({"1", "true", "yes", "on"})

Message = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call; ``pieces`` are the streamed fragments of ``arguments`` (a JSON text)."""

    id: str
    name: str
    arguments: str
    pieces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Script:
    """Everything the mock will send for one request, before pacing and faults."""

    tokens: tuple[str, ...]
    tool_call: ToolCall | None
    reasoning: tuple[str, ...]
    finish_reason: str
    prompt_tokens: int
    digest: str

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def completion_tokens(self) -> int:
        if self.tool_call is not None:
            return len(self.tool_call.pieces) + 1
        return len(self.tokens)

    def usage(self) -> dict[str, int]:
        completion = self.completion_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


def message_text(message: Message) -> str:
    """A message's text: a string content, or its ``text`` parts joined by spaces."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return ""


def reply_tokens(messages: Sequence[Message], profile: MockProfile | None = None) -> list[str]:
    """The text reply as tokens (see the module docstring for the rules)."""
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        words = ["The", "tool", "returned:", *_quote(message_text(last))]
    else:
        user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        words = ["You", "said:", *_quote(message_text(user))]
    if profile is not None and profile.tokens is not None:
        corpus = itertools.cycle(_CORPUS_WORDS)
        words = list(itertools.islice(itertools.chain(words, corpus), profile.tokens))
    return _TOKEN.findall(" ".join(words))


def reply_text(messages: Sequence[Message], profile: MockProfile | None = None) -> str:
    """The text reply the mock streams for ``messages``."""
    return "".join(reply_tokens(messages, profile))


def prompt_tokens(messages: Sequence[Message]) -> int:
    return sum(len(_WORD.findall(message_text(m))) + 4 for m in messages)


def write_script(request: Mapping[str, Any], profile: MockProfile) -> Script:
    """Decide the reply to an OpenAI chat-completions request body."""
    messages: Sequence[Message] = request.get("messages") or []
    digest = hashlib.blake2s(
        orjson.dumps([request.get("model"), messages], option=orjson.OPT_SORT_KEYS),
        digest_size=6,
    ).hexdigest()
    reasoning = REASONING if profile.reasoning else ()
    tool = _chosen_tool(request, messages)
    if tool is not None:
        call = _tool_call(tool, message_text(_last_user(messages)), f"call_{digest}_0")
        return Script((), call, reasoning, "tool_calls", prompt_tokens(messages), digest)
    tokens = reply_tokens(messages, profile)
    finish_reason = "stop"
    limit = request.get("max_completion_tokens") or request.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(tokens):
        tokens, finish_reason = tokens[:limit], "length"
    return Script(tuple(tokens), None, reasoning, finish_reason, prompt_tokens(messages), digest)


def _quote(text: str) -> list[str]:
    return text.split()[:ECHO_WORDS]


def _chosen_tool(
    request: Mapping[str, Any], messages: Sequence[Message]
) -> Mapping[str, Any] | None:
    tools: list[Mapping[str, Any]] = [
        t["function"]
        for t in request.get("tools") or []
        if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
    ]
    choice = request.get("tool_choice")
    if not tools or choice == "none" or not messages:
        return None
    last = messages[-1].get("role")
    if last == "tool":
        return _next_named(tools, messages)
    if last != "user":
        return None
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == wanted), tools[0])
    named = _named(tools, message_text(messages[-1]))
    return named[0] if named else tools[0]


def _named(tools: Sequence[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    """The tools ``text`` names, in the order it names them."""
    found = [(text.find(str(t.get("name", ""))), t) for t in tools if t.get("name")]
    return [tool for at, tool in sorted(found, key=lambda pair: pair[0]) if at >= 0]


def _next_named(
    tools: Sequence[Mapping[str, Any]], messages: Sequence[Message]
) -> Mapping[str, Any] | None:
    """The next tool the last user message names that was not called since it."""
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    if start < 0:
        return None
    called = {
        (call.get("function") or {}).get("name")
        for message in messages[start + 1 :]
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
        if isinstance(call, Mapping)
    }
    named = _named(tools, message_text(messages[start]))
    return next((t for t in named if t.get("name") not in called), None)


def _last_user(messages: Sequence[Message]) -> Message:
    return next((m for m in reversed(messages) if m.get("role") == "user"), {})


def _tool_call(tool: Mapping[str, Any], user_text: str, call_id: str) -> ToolCall:
    properties = (tool.get("parameters") or {}).get("properties") or {}
    called = re.search(rf"(?<![\w-]){re.escape(str(tool.get('name', '')))}\(([^()]+)\)", user_text)
    positional = called[1] if called is not None and len(properties) == 1 else None
    arguments = {
        name: _argument(name, schema if isinstance(schema, Mapping) else {}, user_text, positional)
        for name, schema in properties.items()
    }
    text = orjson.dumps(arguments).decode()
    size = -(-len(text) // ARGUMENT_PIECES)
    pieces = tuple(text[i : i + size] for i in range(0, len(text), size))
    return ToolCall(call_id, str(tool.get("name", "")), text, pieces)


def _argument(
    name: str, schema: Mapping[str, Any], user_text: str, positional: str | None = None
) -> Any:
    kind = _schema_type(schema)
    match = re.search(rf"(?<![\w-]){re.escape(name)}\s*[=:]\s*(\S+)", user_text)
    raw = match[1] if match is not None else positional
    if raw is not None:
        raw = raw.strip().strip("\"'").rstrip(".,;!?)\"'")
        try:
            return _coerce(kind, raw)
        except ValueError:
            pass
    if schema.get("enum"):
        return schema["enum"][0]
    return {
        "integer": 1,
        "number": 1,
        "boolean": True,
        "array": [],
        "object": {},
    }.get(kind, " ".join(user_text.split()))


def _schema_type(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        for option in schema.get("anyOf") or schema.get("oneOf") or []:
            if isinstance(option, Mapping) and option.get("type") not in (None, "null"):
                return _schema_type(option)
    return kind if isinstance(kind, str) else "string"


def _coerce(kind: str, raw: str) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "number":
        number = float(raw)
        return int(number) if number.is_integer() else number
    if kind == "boolean":
        return raw.lower() in _TRUE
    if kind in ("array", "object"):
        raise ValueError(kind)
    return raw
