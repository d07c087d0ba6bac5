"""``@action``: a function or LangChain tool that runs once per key (see :mod:`.keys`).

The first call of a key executes and records its result (as plain JSON); a repeat —
a resumed LangGraph node, a retried request, a replica taking over — returns the recorded
result without executing. A call made while another with the same key is still running
waits for it. A failed call is recorded; a repeat raises :class:`ActionFailed` unless the
action is ``retryable``, when it executes again. The key is :func:`current_key` while the
function runs, to hand on to the system of record (an ``Idempotency-Key`` header).

Sync functions run where LangChain runs them (a worker thread); the ledger is consulted on
the run's event loop. Outside a gateway run (no :class:`~.scope.ActionScope`) the wrapper
only calls the function.

What identifies a call is its own arguments (:mod:`.arguments`: not what LangChain or
LangGraph inject), or what ``key`` makes of them; one call's life in the ledger is
:mod:`.call`, its approval step :mod:`.asking`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from langchain_core.tools import BaseTool

from tokenwire.actions.arguments import KeyOf, OwnArguments
from tokenwire.actions.asking import decision, decision_sync, declined
from tokenwire.actions.call import RUNNING_KEY, ActionFailed, Call, run_keyed
from tokenwire.actions.registry import register
from tokenwire.actions.scope import current_scope

__all__ = ["ActionFailed", "Commit", "action", "current_key"]

F = TypeVar("F", bound=Callable[..., Any])


def current_key() -> str | None:
    """The idempotency key of the action running now (None outside one)."""
    return RUNNING_KEY.get()


Commit = Literal["immediate", "after_validation"]


@overload
def action(fn: BaseTool, /) -> BaseTool: ...
@overload
def action(fn: F, /) -> F: ...
@overload
def action(
    *,
    name: str | None = None,
    key: KeyOf | None = None,
    retryable: bool = False,
    commit: Commit = "immediate",
    requires_approval: bool = False,
    description: str | None = None,
) -> Callable[[F], F]: ...
def action(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    key: KeyOf | None = None,
    retryable: bool = False,
    commit: Commit = "immediate",
    requires_approval: bool = False,
    description: str | None = None,
) -> Any:
    """Make ``fn`` (a function, an async function or a LangChain tool) idempotent.
    ``key``: called with the call's own arguments as keywords, returns (as JSON) what
    identifies the call instead of all of them — ``key=lambda order_id, **_: order_id``:
    a re-worded ``note`` is the same refund.
    ``commit = "after_validation"``: execute only once the run has completed (see
    :mod:`.commit`); the agent gets a placeholder result meanwhile.
    ``requires_approval``: a human decides on each call before it executes (see
    :mod:`.approval`); ``description`` is what the reviewer is shown."""
    if commit not in ("immediate", "after_validation"):
        raise ValueError('commit must be "immediate" or "after_validation"')
    if key is not None and not callable(key):
        raise TypeError("key must be a callable of the call's arguments")

    def wrap(target: Any) -> Any:
        label = name or (target.name if isinstance(target, BaseTool) else target.__name__)
        shown = description or f"tokenwire action {label!r} asks to run"
        policy = _Policy(label, retryable, commit, requires_approval, shown, key)
        if isinstance(target, BaseTool):
            wrapped = _wrap_tool(target, policy)
            # One function per name: a tool with both runs the async one when settling.
            inner = getattr(target, "coroutine", None) or getattr(target, "func", None)
            if inner is not None:
                register(label, inner)
            return wrapped
        register(label, target)
        return _wrap_function(target, policy)

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True, slots=True)
class _Policy:
    name: str
    retryable: bool
    commit: Commit
    requires_approval: bool = False
    description: str = ""
    key: KeyOf | None = None


def _wrap_tool(tool: BaseTool, policy: _Policy) -> BaseTool:
    update: dict[str, Any] = {}
    for field in ("func", "coroutine"):
        inner = getattr(tool, field, None)
        if inner is not None:
            update[field] = _wrap_function(inner, policy)
    if not update:  # a BaseTool subclass with its own _run: nothing here to wrap
        raise TypeError(
            f"@action cannot wrap tool {tool.name!r} ({type(tool).__name__} defines _run): "
            "decorate the function it calls, or build it with @tool / StructuredTool"
        )
    return tool.model_copy(update=update)


def _wrap_function(fn: Callable[..., Any], policy: _Policy) -> Callable[..., Any]:
    own = OwnArguments.of(fn)
    deferred = policy.commit == "after_validation"

    def call_of(args: Any, kwargs: Any) -> Call | None:
        scope = current_scope.get()
        if scope is None:
            return None
        identity = own.identity(args, kwargs, policy.key)
        return Call(scope, policy.name, policy.retryable, own.canonical(args, kwargs), identity)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            call = call_of(args, kwargs)
            if call is None:
                return await fn(*args, **kwargs)
            if call.scope.shadow:
                return await call.skipped()
            recorded = await call.claim()
            if recorded is not None:
                return call.replayed(recorded)
            if policy.requires_approval:
                verdict = await decision(call, policy.description)
                if not verdict.execute:
                    return await declined(call, verdict)
                args, kwargs = own.edited(args, kwargs, verdict.args)
            if deferred:
                return await call.defer(
                    lambda: run_keyed(call.key, fn, args, kwargs), own.arguments(args, kwargs)
                )
            return await call.execute_async(lambda: fn(*args, **kwargs))

        return run_async

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        call = call_of(args, kwargs)
        if call is None:
            return fn(*args, **kwargs)
        if call.scope.shadow:
            return call.on_loop(call.skipped())
        recorded = call.on_loop(call.claim())
        if recorded is not None:
            return call.replayed(recorded)
        if policy.requires_approval:
            verdict = decision_sync(call, policy.description)
            if not verdict.execute:
                return call.on_loop(declined(call, verdict))
            args, kwargs = own.edited(args, kwargs, verdict.args)
        if deferred:
            own_args = own.arguments(args, kwargs)
            return call.on_loop(call.defer(lambda: run_keyed(call.key, fn, args, kwargs), own_args))
        return call.execute_sync(lambda: fn(*args, **kwargs))

    return run_sync
