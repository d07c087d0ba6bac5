"""The arguments that make an action call what it is — not the ones its framework injects.

A tool or a LangGraph node is handed values besides what the call asks for: its config,
its callbacks, its tool call id, the graph's state or store, a ``ToolRuntime``. They change
when the same work is redone (a regenerated tool call has a new ``tool_call_id``), so they
are no part of the call's identity. They are told apart the way LangChain and LangGraph
decide what to inject — by the parameter's annotation:

- ``RunnableConfig``; a callback manager, handler or ``Callbacks``;
- an ``InjectedToolArg`` in ``Annotated[...]`` (``InjectedToolCallId``, ``InjectedState``,
  ``InjectedStore``) or a directly injected type (``ToolRuntime``) — LangChain's own test,
  ``langchain_core.tools.base._is_injected_arg_type``;
- LangGraph's ``Runtime`` and ``BaseStore`` (what a node is given);

and by name where they inject by name: ``run_manager`` and ``callbacks`` always
(``FILTERED_ARGS``), an unannotated ``config``, ``runtime``, ``store``, ``writer`` or
``previous`` (a ``RunnableLambda``, a LangGraph node), and ``self``/``cls`` first. A
parameter named ``state`` or ``config`` annotated ``str`` is the caller's, and counts.

``@action(key=...)`` narrows the identity further: it gets the call's own arguments as
keyword arguments and returns what identifies the call instead of all of them.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks.base import BaseCallbackHandler, BaseCallbackManager
from langchain_core.callbacks.manager import BaseRunManager
from langchain_core.runnables import RunnableConfig
from langchain_core.tools.base import FILTERED_ARGS, _is_injected_arg_type

from tokenwire.langchain.output import to_jsonable

__all__ = ["KeyOf", "OwnArguments"]

#: ``@action(key=...)``: the call's own arguments (as keywords) → what identifies it.
KeyOf = Callable[..., Any]

#: Injected by name whatever they are annotated (LangChain's ``FILTERED_ARGS``).
_ALWAYS_INJECTED = frozenset(FILTERED_ARGS)
#: Injected by name when unannotated: a ``RunnableLambda``'s ``config``, a LangGraph
#: node's ``config``, ``runtime``, ``store``, ``writer``, ``previous``.
_INJECTED_UNANNOTATED = frozenset({"config", "runtime", "store", "writer", "previous"})
_BOUND = frozenset({"self", "cls"})
#: Type names that mark an injected parameter, for annotations that cannot be resolved
#: (a string naming a type defined where ``get_type_hints`` cannot see it).
_INJECTED_NAMES = re.compile(
    r"\b(RunnableConfig|Injected\w*|ToolRuntime|Runtime|BaseStore|Callbacks"
    r"|\w*CallbackManager\w*|\w*CallbackHandler)\b"
)


@dataclass(frozen=True, slots=True)
class OwnArguments:
    """Which of a function's parameters are the call's own."""

    signature: inspect.Signature
    own: frozenset[str]

    @classmethod
    def of(cls, fn: Callable[..., Any]) -> OwnArguments:
        signature = inspect.signature(fn)
        hints = _hints(fn)
        own = frozenset(
            name
            for position, (name, parameter) in enumerate(signature.parameters.items())
            if not _injected(name, position, hints.get(name, parameter.annotation))
        )
        return cls(signature, own)

    def canonical(self, args: Any, kwargs: Any) -> Any:
        """The call's own arguments as JSON (defaults applied): what the ledger shows."""
        bound = self._bound(args, kwargs)
        if bound is None:
            return to_jsonable([args, kwargs])
        return to_jsonable(bound)

    def identity(self, args: Any, kwargs: Any, key: KeyOf | None) -> Any:
        """What identifies the call: its own arguments, or what ``key`` makes of them."""
        bound = self._bound(args, kwargs)
        if bound is None:
            return to_jsonable([args, kwargs])
        return to_jsonable(bound if key is None else key(**bound))

    def edited(self, args: Any, kwargs: Any, edits: Mapping[str, Any] | None) -> tuple[Any, Any]:
        """The call's arguments with a reviewer's edits applied (its own ones only)."""
        if not edits:
            return args, kwargs
        bound = self.signature.bind(*args, **kwargs)
        for name, value in edits.items():
            if name in self.own:
                bound.arguments[name] = value
        return bound.args, bound.kwargs

    def arguments(self, args: Any, kwargs: Any) -> dict[str, Any] | None:
        """The call's own arguments as given (defaults applied); None if they do not bind."""
        return self._bound(args, kwargs)

    def rebound(self, own: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Positional and keyword arguments that call the function with its own arguments
        ``own`` alone (a deferred call committed from the ledger) — ``TypeError`` when it
        also needs one its framework injects, which only the original call had."""
        needed = [
            name
            for name, parameter in self.signature.parameters.items()
            if name not in self.own
            and parameter.default is inspect.Parameter.empty
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        ]
        if needed:
            raise TypeError(
                f"it needs {', '.join(map(repr, needed))}, which only its original call "
                "was given: a deferred call committed by another run gets its own "
                "arguments alone"
            )
        ordered = {n: own[n] for n in self.signature.parameters if n in own}
        bound = inspect.BoundArguments(self.signature, ordered)  # type: ignore[arg-type]
        return bound.args, bound.kwargs

    def _bound(self, args: Any, kwargs: Any) -> dict[str, Any] | None:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError:  # the call itself will say what is wrong
            return None
        bound.apply_defaults()
        return {k: v for k, v in bound.arguments.items() if k in self.own}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # a forward reference it cannot resolve: the raw annotations then
        return {}


def _injected(name: str, position: int, annotation: Any) -> bool:
    if position == 0 and name in _BOUND:
        return True
    if name in _ALWAYS_INJECTED:
        return True
    if annotation is inspect.Parameter.empty:
        return name in _INJECTED_UNANNOTATED
    if isinstance(annotation, str):
        return _INJECTED_NAMES.search(annotation) is not None
    return _injected_type(annotation)


def _injected_type(annotation: Any) -> bool:
    if _is_injected_arg_type(annotation):
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _injected_type(typing.get_args(annotation)[0])
    if _is_union(annotation):  # ``RunnableConfig | None``, ``Callbacks``
        return any(_injected_type(member) for member in typing.get_args(annotation))
    if annotation is RunnableConfig:
        return True
    origin = typing.get_origin(annotation)
    if origin is list:  # ``list[BaseCallbackHandler]``, one of ``Callbacks``
        return any(_injected_type(item) for item in typing.get_args(annotation))
    kind = origin if isinstance(origin, type) else annotation
    return isinstance(kind, type) and issubclass(kind, _injected_classes())


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _injected_classes() -> tuple[type, ...]:
    found: tuple[type, ...] = (BaseRunManager, BaseCallbackManager, BaseCallbackHandler)
    try:  # LangGraph is optional: a node's runtime and store
        from langgraph.runtime import Runtime
        from langgraph.store.base import BaseStore
    except ImportError:
        return found
    return (*found, Runtime, BaseStore)
