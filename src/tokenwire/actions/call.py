"""One call of an action inside a run: its key, its claim on the ledger, its execution and
the record of how it ended.

:meth:`Call.claim` begins the key in the ledger (or finds it: a replay, a wait for a
duplicate still running, a take-over of one whose run died); the call then executes
(:meth:`Call.execute_async`, :meth:`Call.execute_sync`) or is deferred
(:meth:`Call.defer`, :mod:`.commit`), and the ledger records ``succeeded`` or ``failed``.

An executing call survives its run's cancellation: the downstream call may already have
happened, so forgetting it would let the work redone execute it twice. The async function
runs in a task of its own, shielded; on a cancel the call waits for it — at most
``action_commit_timeout_seconds``, then it is cancelled and recorded ``failed`` — records
how it ended, and only then lets the cancel go on. A sync function runs in a worker thread
that no cancel stops; it records its outcome on the run's loop when it returns. Either
way the run ends only after its executing calls (:func:`calls_ended`), so a retry of the
request finds the key finished, not held by a dead run. Only LangGraph pausing inside the
call (``interrupt()``, a ``Command``: its ``GraphBubbleUp``) lets the key go.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from langchain_core.runnables.config import var_child_runnable_config

from tokenwire.actions.commit import Deferred, placeholder
from tokenwire.actions.keys import call_identity, idempotency_key, step_of
from tokenwire.actions.ledger import ActionEntry, ActionStatus
from tokenwire.actions.replay import recorded, restored
from tokenwire.actions.scope import ActionScope

__all__ = ["RUNNING_KEY", "ActionFailed", "Call", "calls_ended", "run_keyed"]

log = logging.getLogger("tokenwire.actions")

T = TypeVar("T")

#: How long a call waits for an identical one still running elsewhere.
_WAIT_SECONDS = 300.0
_POLL_SECONDS = 0.05

#: The key of the action executing now (``current_key()``).
RUNNING_KEY: ContextVar[str | None] = ContextVar("tokenwire_action_key", default=None)


class ActionFailed(Exception):
    """The action already ran for this key and failed; it is not ``retryable``."""


class Call:
    """One call of an action inside a run. ``args``: its arguments as the ledger shows
    them; ``identity``: what identifies it (the same, unless ``@action(key=...)``)."""

    def __init__(
        self, scope: ActionScope, name: str, retryable: bool, args: Any, identity: Any
    ) -> None:
        self.scope = scope
        self.retryable = retryable
        self.args = args
        self.config = config = var_child_runnable_config.get() or {}
        namespace = str(config.get("configurable", {}).get("checkpoint_ns", ""))
        step = step_of(namespace, with_tasks=scope.stable_tasks)
        # The LangChain run (a tool's) this call runs in: its tool.end says "replayed".
        parent = getattr(config.get("callbacks"), "parent_run_id", None)
        self.within = str(parent) if parent is not None else None
        called = call_identity(step, name, identity)
        self.key = idempotency_key(
            scope.lineage, called, scope.occurrence(called), scope.key_secret
        )
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

    def replayed(self, entry: ActionEntry) -> Any:
        if entry.status == "failed":
            raise ActionFailed(f"action {entry.action!r} already failed: {entry.error}")
        return restored(entry.result)

    async def release(self) -> None:
        """Let the key go: the call did not execute (not approved, or paused inside)."""
        await self.scope.ledger.release(self.key, self.entry.run_id)

    async def execute_async(self, run: Callable[[], Awaitable[Any]]) -> Any:
        executing = self.scope.began()
        token = RUNNING_KEY.set(self.key)
        try:
            work = asyncio.ensure_future(run())  # its own task, with the key in its context
        finally:
            RUNNING_KEY.reset(token)
        try:
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                # The run is cancelled (or the call itself): finish and record the call
                # first, whatever further cancels insist.
                with contextlib.suppress(asyncio.CancelledError):  # raised just below
                    await _uncancelled(self._outlived(work))
                raise
            except BaseException:  # the call's own failure: recorded below, then raised
                pass
            await _uncancelled(self._recorded(work))  # a cancel now waits for the record
            return work.result()
        finally:
            self.scope.ended(executing)

    def execute_sync(self, run: Callable[[], Any]) -> Any:
        """In the worker thread: a cancel of the run does not stop it, so its outcome is
        recorded when it returns (on the run's loop, which is still running)."""
        executing = self.scope.began()
        token = RUNNING_KEY.set(self.key)
        try:
            result = run()
        except BaseException as exc:
            if _paused(exc):
                self.on_loop(self.release())
            else:
                self.on_loop(self.finished("failed", error=_describe(exc)))
            raise
        else:
            self.on_loop(self.finished("succeeded", recorded(result)))
            return result
        finally:
            RUNNING_KEY.reset(token)
            self.scope.ended(executing)

    async def _outlived(self, work: asyncio.Future[Any]) -> None:
        """Wait for a call its run's cancel interrupted, bounded by the commit deadline,
        and record how it ended."""
        limit = self.scope.commit_timeout
        try:
            async with asyncio.timeout(limit if limit > 0 else None):
                await asyncio.wait([work])  # never cancels ``work`` itself
        except TimeoutError:
            work.cancel()
            work.add_done_callback(_retrieved)
            error = f"TimeoutError: still running {limit:g} s after its run was cancelled"
            await self.finished("failed", error=error)
            return
        await self._recorded(work)

    async def _recorded(self, work: asyncio.Future[Any]) -> None:
        if work.cancelled():
            await self.finished("failed", error="CancelledError")
            return
        exc = work.exception()
        if exc is None:
            await self.finished("succeeded", recorded(work.result()))
        elif _paused(exc):
            await self.release()
        else:
            await self.finished("failed", error=_describe(exc))

    async def defer(self, execute: Callable[[], Awaitable[Any]], own: dict[str, Any] | None) -> Any:
        """Record the call ``intended``, with its own arguments ``own`` — what another run
        (the one resuming a paused thread, on any replica) commits it with; its run's end
        executes it (or discards it)."""
        commit_args = None if own is None else recorded(own)
        await self.scope.ledger.finish(self.key, "intended", commit_args=commit_args)
        self.scope.outcomes[(self.entry.action, "intended")] += 1
        self.scope.intend(Deferred(self.entry, execute))
        return placeholder(self.entry)

    async def finished(
        self, status: ActionStatus, result: Any = None, error: str | None = None
    ) -> None:
        """Record how the execution ended (on the run's loop, whichever thread ran it)."""
        self.scope.outcomes[(self.entry.action, status)] += 1
        await self.scope.ledger.finish(self.key, status, result, error, self.entry.run_id)

    def on_loop(self, coro: Awaitable[T]) -> T:
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
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro,  # type: ignore[arg-type]
            loop,
        )
        # Bounded: a loop that stopped (the gateway shutting down) must not hang the thread.
        return future.result(timeout=_WAIT_SECONDS + 60)


async def run_keyed(key: str, fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with ``key`` as :func:`current_key` — in a worker thread
    when ``fn`` is sync (the run's loop must not block on a system of record)."""
    if inspect.iscoroutinefunction(fn):
        token = RUNNING_KEY.set(key)
        try:
            return await fn(*args, **kwargs)
        finally:
            RUNNING_KEY.reset(token)

    def run() -> Any:
        RUNNING_KEY.set(key)  # the worker thread's own copy of the context
        return fn(*args, **kwargs)

    return await asyncio.to_thread(run)


async def calls_ended(scope: ActionScope) -> None:
    """Wait, before the run ends, for its calls still executing — a sync call's worker
    thread, a call in a LangGraph task that was cancelled and left — to record their
    outcome: at most the commit deadline, whatever cancels insist meanwhile."""
    executing = [asyncio.wrap_future(call) for call in list(scope.executing)]
    if not executing:
        return
    limit = scope.commit_timeout
    waiting = asyncio.ensure_future(asyncio.wait(executing, timeout=limit if limit > 0 else None))
    # The run's outcome is decided already: a cancel insisted on meanwhile changes nothing.
    with contextlib.suppress(asyncio.CancelledError):
        await _uncancelled(waiting)
    _, pending = waiting.result()
    if pending:
        log.warning(
            "run %s ends with %d @action call(s) still executing after %g s: recorded when "
            "they return",
            scope.run_id,
            len(pending),
            limit,
        )


async def _uncancelled(work: Awaitable[T]) -> T:
    """``await work`` to its end: a cancel meanwhile (insisted on) does not cut it short,
    and goes on once it is done."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


def _retrieved(work: asyncio.Future[Any]) -> None:
    """A call cancelled at the deadline: its late exception is already recorded."""
    if not work.cancelled():
        work.exception()


def _paused(exc: BaseException) -> bool:
    """Not a failure of the action: LangGraph pausing or redirecting the graph inside it
    (``interrupt()``, a ``Command`` to the parent: its ``GraphBubbleUp``). The call did not
    end; the work redone runs it again."""
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(exc).__mro__)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
