"""What a per-call HITL interrupt's ``response_schema`` says about the answers it takes.

In ``per_call`` mode LangChain's ``HumanInTheLoopMiddleware`` interrupts with a Python type
(the union of the decisions the tool allows, its ``edit`` branch pinned to the tool's name
and its arguments to the tool's own schema); LangGraph checks the resume value against it
when the graph resumes, and keeps only its JSON schema in the checkpoint. An answer that
does not match fails the resumed run (a ``ValidationError``), so the gateway checks what it
can read from that JSON schema before it starts one: the decision types, an edit's tool
name, its required arguments and their JSON types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["args_problems", "decision_types", "edit_args_schema", "json_schema"]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool, int),
    "array": (list, tuple),
    "object": (Mapping,),
    "null": (type(None),),
}


def json_schema(response_schema: Any) -> Mapping[str, Any] | None:
    """The response schema as JSON schema (LangGraph publishes a type's), None when it is
    absent or cannot be read."""
    if response_schema is None:
        return None
    if isinstance(response_schema, Mapping):
        return response_schema
    try:
        from pydantic import TypeAdapter

        schema: Mapping[str, Any] = TypeAdapter(response_schema).json_schema()
    except Exception:
        return None
    return schema


def decision_types(schema: Mapping[str, Any], known: tuple[str, ...]) -> tuple[str, ...]:
    """The ``known`` decision types the schema's branches admit, in ``known``'s order."""
    found = {_const_type(branch) for branch in _branches(schema)}
    return tuple(d for d in known if d in found)


def edit_args_schema(schema: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any] | None]:
    """The tool name an edit is pinned to and the schema of its ``args``."""
    for branch in _branches(schema):
        if _const_type(branch) != "edit":
            continue
        fields = branch.get("properties")
        action = (
            _resolve(schema, fields.get("edited_action")) if isinstance(fields, Mapping) else None
        )
        properties = action.get("properties", {}) if action else {}
        name = properties.get("name", {}).get("const") if isinstance(properties, Mapping) else None
        args = _resolve(schema, properties.get("args")) if isinstance(properties, Mapping) else None
        return (name if isinstance(name, str) else None), args
    return None, None


def args_problems(root: Mapping[str, Any], args_schema: Mapping[str, Any], args: Any) -> list[str]:
    """Why ``args`` does not match ``args_schema``: a missing required argument or one of
    the wrong JSON type (arguments the schema does not declare pass, as the tool ignores
    them)."""
    problems = [f"{name}: required" for name in args_schema.get("required", ()) if name not in args]
    properties = args_schema.get("properties")
    for name, value in args.items():
        declared = _resolve(root, properties.get(name)) if isinstance(properties, Mapping) else None
        kinds = _types(root, declared) if declared else set()
        if kinds and not any(_is(value, kind) for kind in kinds):
            problems.append(f"{name}: must be {' or '.join(sorted(kinds))}")
    return problems


def _branches(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The decision schemas: the members of a (discriminated) union, or the schema itself."""
    members = schema.get("oneOf") or schema.get("anyOf")
    if not isinstance(members, list):
        return [schema]
    resolved = (_resolve(schema, member) for member in members)
    return [member for member in resolved if member is not None]


def _const_type(branch: Mapping[str, Any]) -> str | None:
    properties = branch.get("properties")
    kind = properties.get("type") if isinstance(properties, Mapping) else None
    const = kind.get("const") if isinstance(kind, Mapping) else None
    return const if isinstance(const, str) else None


def _resolve(root: Mapping[str, Any], node: Any) -> Mapping[str, Any] | None:
    """``node`` with a local ``$ref`` (``#/$defs/Name``) followed."""
    for _ in range(8):  # refs to refs, but never a cycle
        if not isinstance(node, Mapping):
            return None
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        node = target
    return None


def _types(root: Mapping[str, Any], schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a property schema admits; none known (anything passes) when it has
    no ``type`` of its own nor in every ``anyOf`` / ``oneOf`` member."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind} if kind in _JSON_TYPES else set()
    if isinstance(kind, list):
        return (
            {k for k in kind if k in _JSON_TYPES} if all(k in _JSON_TYPES for k in kind) else set()
        )
    found: set[str] = set()
    for member in schema.get("anyOf") or schema.get("oneOf") or ():
        resolved = _resolve(root, member)
        kinds = _types(root, resolved) if resolved else set()
        if not kinds:
            return set()
        found |= kinds
    return found


def _is(value: Any, kind: str) -> bool:
    """Whether LangGraph's (lax) pydantic check may take ``value`` as ``kind``: a string may
    still be a number or a flag to it, a bool an integer; only what it never coerces fails."""
    if kind in ("integer", "number", "boolean") and isinstance(value, str | bool | int | float):
        return kind != "integer" or not isinstance(value, float) or value.is_integer()
    return isinstance(value, _JSON_TYPES[kind])
