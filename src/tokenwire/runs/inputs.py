"""Validate and shape a run's input and config before anything starts (errors are 422s)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

from langchain_core.messages import convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableBindingBase
from pydantic import BaseModel, ValidationError

from tokenwire.errors import InvalidRequest
from tokenwire.langchain.custom_events import is_graph

__all__ = [
    "ChatShape",
    "chat_shape",
    "input_from_messages",
    "prepare_config",
    "prepare_input",
    "resolve_ref",
    "unbuildable_input_schema",
]


def prepare_input(runnable: Runnable[Any, Any], raw: Any) -> Any:
    """Check ``raw`` against the runnable's input schema.

    OpenAI-style message lists (``[{"role": "user", "content": ...}]``, top level or under
    ``"messages"``) become LangChain messages first, so chat models, prompts and LangGraph
    graphs all accept the shape every client already sends.
    """
    value = _with_messages(raw)
    schema = _schemas.of(runnable)
    if schema.model is None:
        return value  # warned about at startup (:func:`unbuildable_input_schema`)
    try:
        schema.model.model_validate(value)
    except ValidationError as exc:
        errors = [e for e in exc.errors() if not (schema.partial and _missing_key(e))]
        if errors:
            raise InvalidRequest([_describe(err) for err in errors]) from None
    except (ValueError, TypeError) as exc:
        raise InvalidRequest([f"input: {exc}"]) from None
    return value


def unbuildable_input_schema(runnable: Runnable[Any, Any]) -> str | None:
    """Why pydantic cannot build this runnable's input schema (a ``typing.TypedDict`` state
    on Python < 3.12), or ``None`` when it can. Such a route takes its input unvalidated."""
    return _schemas.of(runnable).unbuildable


def _missing_key(error: Any) -> bool:
    """A state key left out: ``graph.invoke`` accepts partial state (every key optional)."""
    return error.get("type") == "missing" and len(error.get("loc", ())) == 1


class _InputSchema:
    """A runnable's input schema: LangChain builds a new pydantic model on every
    ``get_input_schema()`` call, far more work than validating a request with it."""

    __slots__ = ("_json", "model", "partial", "runnable", "unbuildable")

    def __init__(self, runnable: Runnable[Any, Any]) -> None:
        self.runnable = runnable
        #: A LangGraph graph's input is a partial state: top-level keys are all optional.
        self.partial = is_graph(runnable)
        self.unbuildable: str | None = None
        self.model: Any = None
        try:
            self.model = runnable.get_input_schema()
        except Exception as exc:
            # The route's own code (pydantic refuses typing.TypedDict before 3.12): a request
            # must not answer 500 for it, so the input goes unvalidated instead.
            self.unbuildable = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self._json: dict[str, Any] | None = None

    def json(self) -> dict[str, Any]:
        """The JSON schema, its top-level ``$ref`` resolved (empty when unbuildable)."""
        if self._json is None:
            self._json = {} if self.model is None else _resolve(self.model.model_json_schema())
        return self._json


class _SchemaCache:
    """Input schemas by runnable (routes' runnables live as long as the gateway). Keyed by
    ``id``, checked by identity: runnables need not be hashable."""

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._schemas: dict[int, _InputSchema] = {}

    def of(self, runnable: Runnable[Any, Any]) -> _InputSchema:
        schema = self._schemas.get(id(runnable))
        if schema is None or schema.runnable is not runnable:
            if len(self._schemas) >= self._limit:
                self._schemas.clear()  # runnables made per request: do not grow without bound
            schema = self._schemas[id(runnable)] = _InputSchema(runnable)
        return schema


_schemas = _SchemaCache()


class _ClientConfig(BaseModel):
    """The part of a ``RunnableConfig`` a client may set, typed (``"tags": 5`` is a 422)."""

    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    configurable: dict[str, Any] | None = None
    run_name: str | None = None


_CONFIG_KEYS = frozenset(_ClientConfig.model_fields)
#: How much of a conversion error's text a refusal repeats (it may quote the input).
_MAX_REASON = 200


def prepare_config(runnable: Runnable[Any, Any], raw: dict[str, Any] | None) -> RunnableConfig:
    """Clients may set ``tags``, ``metadata`` and the ``configurable`` fields the runnable
    declares; nothing else (callbacks, executors) crosses the wire."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest(["config: must be an object"])
    errors = [f"config.{key}: not settable by clients" for key in raw if key not in _CONFIG_KEYS]
    try:
        client = _ClientConfig.model_validate(raw)
    except ValidationError as exc:
        errors += [_describe(err, "config") for err in exc.errors()]
        raise InvalidRequest(errors) from None
    configurable = client.configurable or {}
    declared = {spec.id for spec in runnable.config_specs}
    errors += [
        f"config.configurable.{key}: not declared by this route"
        for key in configurable
        if key not in declared
    ]
    if errors:
        raise InvalidRequest(errors)
    config: RunnableConfig = {}
    if client.tags:
        config["tags"] = client.tags
    if client.metadata:
        config["metadata"] = client.metadata
    if configurable:
        config["configurable"] = configurable
    if client.run_name:
        config["run_name"] = client.run_name
    return config


def _with_messages(raw: Any) -> Any:
    try:
        if _is_message_list(raw):
            return convert_to_messages(raw)
        if isinstance(raw, dict) and _is_message_list(raw.get("messages")):
            return {**raw, "messages": convert_to_messages(raw["messages"])}
    except ValidationError as exc:
        raise InvalidRequest([_describe(err, "input.messages") for err in exc.errors()]) from None
    except Exception as exc:
        # The messages are the client's own data, and LangChain's conversion refuses a
        # malformed one with whatever it hits first (KeyError for a tool message without
        # ``tool_call_id``, TypeError or AttributeError for odd ``tool_calls``): each is a
        # bad request, never a server error.
        raise InvalidRequest([f"input.messages: {_conversion_error(exc)}"]) from None
    return raw


def _conversion_error(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"a message is missing {exc.args[0]!r}"
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"malformed message ({reason[:_MAX_REASON]})"


def _is_message_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, dict) and "role" in m for m in value)
    )


def _describe(error: Any, prefix: str = "input") -> str:
    where = ".".join(str(p) for p in error.get("loc", ()))
    line = f"{prefix}.{where}" if where else prefix
    return f"{line}: {error.get('msg', 'invalid')}".replace("input.input", "input")


@dataclass(frozen=True, slots=True)
class ChatShape:
    """How a chat message drives a runnable, read from its input schema — the one rule the
    OpenAI endpoint (:func:`input_from_messages`) and the playground (``GET /v1/routes``)
    share.

    ``chat``: a message list; ``messages``: a state with ``messages``; ``text``: a string;
    ``field``: an object whose only required field, ``field``, is a string; ``form``:
    anything else (no chat drives it; ``schema`` is what a form would ask for);
    ``unbuildable``: no schema could be built (``reason`` says why).
    """

    kind: Literal["chat", "messages", "text", "field", "form", "unbuildable"]
    field: str | None = None
    schema: dict[str, Any] = dc_field(default_factory=dict)
    reason: str | None = None


def chat_shape(runnable: Runnable[Any, Any]) -> ChatShape:
    """The :class:`ChatShape` of ``runnable``'s input."""
    found = _schemas.of(runnable)
    if found.unbuildable is not None:
        # No schema to read (a typing.TypedDict state on 3.11): a graph's channels still
        # say whether its state has messages.
        if "messages" in _graph_channels(runnable):
            return ChatShape("messages")
        return ChatShape("unbuildable", reason=found.unbuildable)
    schema = found.json()
    if _accepts_message_list(schema):
        return ChatShape("chat", schema=schema)
    properties = schema.get("properties") or {}
    if schema.get("type") == "object" and "messages" in properties:
        return ChatShape("messages", schema=schema)
    if schema.get("type") == "string":
        return ChatShape("text", schema=schema)
    required = schema.get("required") or []
    if schema.get("type") == "object" and len(required) == 1:
        field = _resolve(properties.get(required[0], {}), schema)
        if field.get("type") == "string":
            return ChatShape("field", field=required[0], schema=schema)
    return ChatShape("form", schema=schema)


def input_from_messages(runnable: Runnable[Any, Any], messages: list[dict[str, Any]]) -> Any:
    """The input a chat-style client means by an OpenAI ``messages`` list, for this runnable.

    Decided from the runnable's input schema (:func:`chat_shape`): a chat model (or any
    messages-list input) gets the messages; a state with a ``messages`` key gets
    ``{"messages": [...]}``; a string input — or an object whose only required field is a
    string — gets the text of the last user message. Anything else cannot be driven by a
    chat and is a 422.
    """
    shape = chat_shape(runnable)
    if shape.kind == "chat":
        return messages
    if shape.kind == "messages":
        return {"messages": messages}
    if shape.kind == "text":
        return _last_user_text(messages)
    if shape.kind == "field" and shape.field is not None:
        return {shape.field: _last_user_text(messages)}
    if shape.kind == "unbuildable":
        raise InvalidRequest(
            [
                "messages: this route's input schema cannot be built "
                f"({shape.reason}) and its state has no 'messages'; use the native "
                "API with an explicit 'input'"
            ]
        )
    raise InvalidRequest(
        [
            "messages: this route's input is not chat-shaped (not a message list, a "
            "'messages' state, a string or a single string field); use the native API "
            "with an explicit 'input'"
        ]
    )


def _graph_channels(runnable: Runnable[Any, Any]) -> Any:
    """A LangGraph graph's state channels by name; empty for anything else."""
    if not is_graph(runnable):
        return {}
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return getattr(runnable, "channels", {})


def _resolve(schema: dict[str, Any], root: dict[str, Any] | None = None) -> dict[str, Any]:
    """Follow a local ``$ref`` (LangGraph and pydantic models put the real schema in $defs)."""
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return {**target, "$defs": root.get("$defs", {})}
    return schema


def resolve_ref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its local ``$ref`` into ``root``'s ``$defs`` followed."""
    return _resolve(schema, root)


def _accepts_message_list(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(isinstance(o, dict) and o.get("type") == "array" for o in options)


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(part.get("text", ""))
                    for part in content
                    if isinstance(part, dict) and part.get("type") == "text"
                )
    raise InvalidRequest(["messages: no user message to take the input text from"])
