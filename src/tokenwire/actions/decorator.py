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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tools import BaseTool

from tokenwire.actions.approval import (
    Verdict,
    approval_request,
    in_checkpointed_graph,
    pause_for,
    verdict,
)
from tokenwire.actions.commit import Deferred, placeholder
from tokenwire.actions.keys import call_identity, idempotency_key, step_of
from tokenwire.actions.ledger import ActionEntry, ActionStatus
from tokenwire.actions.replay import recorded, restored
from tokenwire.actions.scope import ActionScope, current_scope
from tokenwire.langchain.output import to_jsonable

__all__ = ["ActionFailed", "Commit", "action", "current_key"]

F = TypeVar("F", bound=Callable[..., Any])

#: How long a call waits for an identical one still running elsewhere.
_WAIT_SECONDS = 300.0
_POLL_SECONDS = 0.05

_current_key: ContextVar[str | None] = ContextVar("tokenwire_action_key", default=None)


class ActionFailed(Exception):
    """The action already ran for this key and failed; it is not ``retryable``."""


def current_key() -> str | None:
    """The idempotency key of the action running now (None outside one)."""
    return _current_key.get()


Commit = Literal["immediate", "after_validation"]


@overload
def action(fn: BaseTool, /) -> BaseTool: ...
@overload
def action(fn: F, /) -> F: ...
@overload
def action(
    *,
    name: str | None = None,
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
    retryable: bool = False,
    commit: Commit = "immediate",
    requires_approval: bool = False,
    description: str | None = None,
) -> Any:
    """Make ``fn`` (a function, an async function or a LangChain tool) idempotent.
    ``commit = "after_validation"``: execute only once the run has completed (see
    :mod:`.commit`); the agent gets a placeholder result meanwhile.
    ``requires_approval``: a human decides on each call before it executes (see
    :mod:`.approval`); ``description`` is what the reviewer is shown."""
    if commit not in ("immediate", "after_validation"):
        raise ValueError('commit must be "immediate" or "after_validation"')

    def wrap(target: Any) -> Any:
        label = name or (target.name if isinstance(target, BaseTool) else target.__name__)
        shown = description or f"tokenwire action {label!r} asks to run"
        policy = _Policy(label, retryable, commit, requires_approval, shown)
        if isinstance(target, BaseTool):
            return _wrap_tool(target, policy)
        return _wrap_function(target, policy)

    return wrap(fn) if fn is not None else wrap


@dataclass(frozen=True, slots=True)
class _Policy:
    name: str
    retryable: bool
    commit: Commit
    requires_approval: bool = False
    description: str = ""


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
    signature = inspect.signature(fn)
    deferred = policy.commit == "after_validation"
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            scope = current_scope.get()
            if scope is None:
                return await fn(*args, **kwargs)
            call = _Call(scope, policy.name, policy.retryable, _arguments(signature, args, kwargs))
            if scope.shadow:
                return await call.skipped()
            recorded = await call.claim()
            if recorded is not None:
                return call.replayed(recorded)
            if policy.requires_approval:
                verdict = await call.decision(policy.description)
                if not verdict.execute:
                    return await call.declined(verdict)
                args, kwargs = _edited(signature, args, kwargs, verdict.args)
            if deferred:
                return await call.defer(lambda: call.keyed_async(lambda: fn(*args, **kwargs)))
            return await call.execute_async(lambda: fn(*args, **kwargs))

        return run_async

    @functools.wraps(fn)
    def run_sync(*args: Any, **kwargs: Any) -> Any:
        scope = current_scope.get()
        if scope is None:
            return fn(*args, **kwargs)
        call = _Call(scope, policy.name, policy.retryable, _arguments(signature, args, kwargs))
        if scope.shadow:
            return call.on_loop(call.skipped())
        recorded = call.on_loop(call.claim())
        if recorded is not None:
            return call.replayed(recorded)
        if policy.requires_approval:
            verdict = call.decision_sync(policy.description)
            if not verdict.execute:
                return call.on_loop(call.declined(verdict))
            args, kwargs = _edited(signature, args, kwargs, verdict.args)
        if deferred:
            return call.on_loop(call.defer(lambda: call.keyed_thread(fn, args, kwargs)))
        return call.execute_sync(lambda: fn(*args, **kwargs))

    return run_sync


def _edited(
    signature: inspect.Signature, args: Any, kwargs: Any, edits: Any
) -> tuple[Any, dict[str, Any]]:
    """The call's arguments with a reviewer's edits applied (the names it declares)."""
    if not edits:
        return args, kwargs
    bound = signature.bind(*args, **kwargs)
    for name, value in edits.items():
        if name in signature.parameters and name not in _NOT_THE_CALL:
            bound.arguments[name] = value
    return bound.args, bound.kwargs


def _arguments(signature: inspect.Signature, args: Any, kwargs: Any) -> Any:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return to_jsonable([args, kwargs])
    bound.apply_defaults()
    return to_jsonable({k: v for k, v in bound.arguments.items() if k not in _NOT_THE_CALL})


#: Arguments that are not what the call asks for — LangChain and LangGraph inject them
#: (a regenerated tool call has a new ``tool_call_id`` for the same work).
_NOT_THE_CALL = frozenset(
    {"self", "cls", "config", "callbacks", "run_manager", "tool_call_id", "state", "store"}
    | {"runtime"}
)


class _Call:
    """One call of an action inside a run."""

    def __init__(self, scope: ActionScope, name: str, retryable: bool, args: Any) -> None:
        self.scope = scope
        self.retryable = retryable
        self.args = args
        self.config = config = var_child_runnable_config.get() or {}
        namespace = str(config.get("configurable", {}).get("checkpoint_ns", ""))
        step = step_of(namespace, with_tasks=scope.stable_tasks)
        # The LangChain run (a tool's) this call runs in: its tool.end says "replayed".
        parent = getattr(config.get("callbacks"), "parent_run_id", None)
        self.within = str(parent) if parent is not None else None
        identity = call_identity(step, name, args)
        self.key = idempotency_key(scope.lineage, identity, scope.occurrence(identity))
        shown = scope.mask(args) if scope.mask is not None else args
        self.entry = ActionEntry(self.key, name, shown, scope.run_id, scope.thread_id)

    async def claim(self) -> ActionEntry | None:
        """None: this call executes. Else the finished entry to replay."""
        ledger = self.scope.ledger
        deadline = time.monotonic() + _WAIT_SECONDS
        while True:
            existing = await ledger.begin(self.entry)
            if existing is None:
                return None
            if existing.status == "failed" and self.retryable:
                if await ledger.retry(self.entry):
                    return None
                continue
            if existing.status == "discarded":  # its run did not complete: anew
                if await ledger.retry(self.entry, holder=existing):
                    return None
                continue
            if existing.status in ("succeeded", "failed"):
                self.scope.outcomes[(self.entry.action, "replayed")] += 1
                if self.within is not None:
                    self.scope.replayed_in.add(self.within)
                return existing
            if existing.status == "intended" and existing.run_id == self.scope.run_id:
                # This run's own deferred call, made again by a retry or a restarting
                # fallback: intend it anew (the earlier attempt's is replaced, not added).
                return None
            # Running or intended elsewhere: wait for it — unless its run is gone.
            if await self._orphaned(existing):
                # Its run died mid-call: execute again, the key (handed to the system of
                # record) keeping the downstream call single.
                if await ledger.retry(self.entry, holder=existing):
                    return None
                continue
            if time.monotonic() > deadline:
                raise ActionFailed(f"action {self.entry.action!r} is still running elsewhere")
            await asyncio.sleep(_POLL_SECONDS)

    async def _orphaned(self, existing: ActionEntry) -> bool:
        alive = self.scope.alive
        if alive is None or existing.run_id == self.scope.run_id:
            return False
        return not await alive(existing.run_id)

    async def skipped(self) -> dict[str, Any]:
        """A shadow run's call: neither executed nor recorded in the ledger."""
        entry = self.entry
        self.scope.outcomes[(entry.action, "skipped_shadow")] += 1
        if self.scope.report is not None:
            self.scope.report(
                "action.skipped_shadow", {"key": entry.key, "name": entry.action, "args": self.args}
            )
        return {"status": "skipped_shadow", "action": entry.action, "key": entry.key}

    def question(self, description: str) -> dict[str, Any]:
        return approval_request(self.key, self.entry.action, self.args, description)

    async def decision(self, description: str) -> Verdict:
        """Ask a human about this call: by pausing the graph, or within the live run. The
        claim on the key is let go while the question is open (the graph paused)."""
        try:
            if in_checkpointed_graph(self.config):
                answer = pause_for(self.question(description))
            else:
                answer = await self._ask_live(self.question(description))
        except BaseException:
            await self.scope.ledger.release(self.key, self.entry.run_id)
            raise
        return verdict(self.entry.action, answer)

    def decision_sync(self, description: str) -> Verdict:
        """:meth:`decision` from the worker thread a sync action runs in."""
        try:
            if in_checkpointed_graph(self.config):
                answer = pause_for(self.question(description))
            else:
                answer = self.on_loop(self._ask_live(self.question(description)))
        except BaseException:
            self.on_loop(self.scope.ledger.release(self.key, self.entry.run_id))
            raise
        return verdict(self.entry.action, answer)

    async def _ask_live(self, question: dict[str, Any]) -> Any:
        ask = self.scope.ask
        return None if ask is None else await ask(question)  # no one to ask: not approved

    async def declined(self, decided: Verdict) -> Any:
        """The reviewer said no (or answered instead): the call does not run, and the key
        is free for a call that is approved."""
        await self.scope.ledger.release(self.key, self.entry.run_id)
        self.scope.outcomes[(self.entry.action, "rejected")] += 1
        return decided.answer

    def replayed(self, entry: ActionEntry) -> Any:
        if entry.status == "failed":
            raise ActionFailed(f"action {entry.action!r} already failed: {entry.error}")
        return restored(entry.result)

    async def execute_async(self, run: Callable[[], Awaitable[Any]]) -> Any:
        token = _current_key.set(self.key)
        try:
            result = await run()
        except BaseException as exc:
            if _paused(exc):
                await self.scope.ledger.release(self.key, self.entry.run_id)
            else:
                await self.finished("failed", error=_describe(exc))
            raise
        finally:
            _current_key.reset(token)
        await self.finished("succeeded", recorded(result))
        return result

    def execute_sync(self, run: Callable[[], Any]) -> Any:
        token = _current_key.set(self.key)
        try:
            result = run()
        except BaseException as exc:
            if _paused(exc):
                self.on_loop(self.scope.ledger.release(self.key, self.entry.run_id))
            else:
                self.on_loop(self.finished("failed", error=_describe(exc)))
            raise
        finally:
            _current_key.reset(token)
        self.on_loop(self.finished("succeeded", recorded(result)))
        return result

    async def defer(self, execute: Callable[[], Awaitable[Any]]) -> Any:
        """Record the call ``intended``; its run's end executes it (or discards it)."""
        await self.scope.ledger.finish(self.key, "intended")
        self.scope.outcomes[(self.entry.action, "intended")] += 1
        self.scope.intend(Deferred(self.entry, execute))
        return placeholder(self.entry)

    async def keyed_async(self, run: Callable[[], Awaitable[Any]]) -> Any:
        token = _current_key.set(self.key)
        try:
            return await run()
        finally:
            _current_key.reset(token)

    async def keyed_thread(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        def run() -> Any:
            _current_key.set(self.key)  # the worker thread's own copy of the context
            return fn(*args, **kwargs)

        return await asyncio.to_thread(run)

    async def finished(
        self, status: ActionStatus, result: Any = None, error: str | None = None
    ) -> None:
        """Record how the execution ended (on the run's loop, whichever thread ran it)."""
        self.scope.outcomes[(self.entry.action, status)] += 1
        await self.scope.ledger.finish(self.key, status, result, error, self.entry.run_id)

    def on_loop(self, coro: Awaitable[Any]) -> Any:
        """Run ``coro`` on the run's event loop from a worker thread, and wait for it."""
        loop = self.scope.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError(
                "a sync @action called on the event loop would block it: make it async, "
                "or let LangChain run it in a worker thread (ainvoke does)"
            )
        future: concurrent.futures.Future[Any] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            loop,
        )
        # Bounded: a loop that stopped (the gateway shutting down) must not hang the thread.
        return future.result(timeout=_WAIT_SECONDS + 60)


def _paused(exc: BaseException) -> bool:
    """Not a failure of the action: LangGraph pausing or redirecting the graph inside it
    (``interrupt()``, a ``Command`` to the parent: its ``GraphBubbleUp``) or the run being
    cancelled. The call did not end; the work redone runs it again."""
    if isinstance(exc, asyncio.CancelledError):
        return True
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
