"""What an action returned, recorded so that a replay hands back the same value.

The ledger stores JSON; a tool's result is not always JSON: a ``content_and_artifact``
tool returns a tuple (LangChain refuses a list in its place), a LangGraph tool a
``Command``, others a message, a Document or a Pydantic model. :func:`recorded` keeps
plain JSON as it is (so the ledger stays readable) and tags the rest — tuples as
``{"$tuple": [...]}``, objects in LangGraph's own checkpoint serialization (the value a
checkpoint would hold of it) as ``{"$object": {"type", "data"}}``; :func:`restored`
undoes it. Without LangGraph installed an object is recorded as plain JSON, as before.
"""

from __future__ import annotations

import base64
from typing import Any

from tokenwire.langchain.output import to_jsonable

__all__ = ["recorded", "restored"]

_TUPLE = "$tuple"
_OBJECT = "$object"
#: A dict whose own keys start with ``$`` is wrapped, so it is never read as a tag.
_DICT = "$dict"


def recorded(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [recorded(item) for item in value]
    if isinstance(value, tuple) and type(value) is tuple:
        return {_TUPLE: [recorded(item) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        body = {key: recorded(item) for key, item in value.items()}
        return {_DICT: body} if any(key.startswith("$") for key in value) else body
    return _serialized(value)


def restored(value: Any) -> Any:
    if isinstance(value, list):
        return [restored(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, body),) = value.items()
        if tag == _TUPLE and isinstance(body, list):
            return tuple(restored(item) for item in body)
        if tag == _DICT and isinstance(body, dict):
            return {key: restored(item) for key, item in body.items()}
        if tag == _OBJECT and isinstance(body, dict):
            return _deserialized(body)
    return {key: restored(item) for key, item in value.items()}


def _serde() -> Any:
    try:
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    except ImportError:  # LangGraph is optional
        return None
    return JsonPlusSerializer()


def _serialized(value: Any) -> Any:
    serde = _serde()
    if serde is not None:
        try:
            kind, data = serde.dumps_typed(value)
        except Exception:  # not serializable there either: keep what JSON can say of it
            return to_jsonable(value)
        return {_OBJECT: {"type": kind, "data": base64.b64encode(data).decode("ascii")}}
    return to_jsonable(value)


def _deserialized(body: dict[str, Any]) -> Any:
    serde = _serde()
    if serde is None:
        return body
    return serde.loads_typed((body["type"], base64.b64decode(body["data"])))
