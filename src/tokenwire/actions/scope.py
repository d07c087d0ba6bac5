"""The run an action is called in: what its key derives from, and where it is recorded.

The gateway sets an :class:`ActionScope` for each run's task (a context variable, so every
step of the run — LangGraph nodes, tools in worker threads — sees it). Its ``lineage`` is
what stays the same when the same work is redone: the LangGraph thread, else the request's
``Idempotency-Key``, else the run itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from tokenwire.actions.commit import Deferred
from tokenwire.actions.ledger import Ledger

__all__ = ["ActionScope", "action_scope", "current_scope"]


@dataclass(slots=True)
class ActionScope:
    lineage: str
    run_id: str
    ledger: Ledger
    loop: asyncio.AbstractEventLoop
    thread_id: str | None = None
    #: The route's PII masking of tool steps: the ledger keeps arguments masked (the key
    #: is a hash of them in clear). Results are masked too, the raw one sealed beside it
    #: for replays (``actions/protection.py``).
    mask: Callable[[Any], Any] | None = None
    #: Whether a run is still live anywhere (on any replica): a call ``running`` in a run
    #: that is not is taken over, not waited for. None: never taken over.
    alive: Callable[[str], Awaitable[bool]] | None = None
    #: (action, outcome) → calls: ``succeeded``, ``failed`` (executed) or ``replayed``;
    #: counted on the run's loop, read by telemetry when the run ends.
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Calls of ``commit = "after_validation"`` actions, executed when the run completes.
    deferred: list[Deferred] = field(default_factory=list)
    #: Ledger writes of discarded calls, made after the run's task could await no more.
    writes: list[asyncio.Task[bool]] = field(default_factory=list)
    #: How long one deferred call may take to commit, and one executing call to finish
    #: after its run was cancelled (0: no limit).
    commit_timeout: float = 60.0
    #: A shadow run (rollouts: generated and measured, never shown) executes no action:
    #: each call is reported ``action.skipped_shadow`` and gets a placeholder result.
    shadow: bool = False
    #: ``report(event_type, data)``: the run's events (the recorder appends them).
    report: Callable[[str, dict[str, Any]], None] | None = None
    #: Asks a human about a call and waits for the decision, within the live run
    #: (``@action(requires_approval=True)`` outside a checkpointed graph).
    ask: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    #: The run answers its thread's pause (a ``Command``): it takes over the deferred calls
    #: the paused run left ``intended`` (:mod:`.settle`); any other run discards them.
    resumes: bool = False
    #: LangChain runs (tools) in which an action returned its recorded result.
    replayed_in: set[str] = field(default_factory=set)
    #: The secret keys are an HMAC under (``action_key_secret``; None: unsalted).
    key_secret: bytes | None = None
    #: Calls whose function is executing now, each done once its outcome is recorded: the
    #: run ends only after them (a cancel does not stop a call that may have reached its
    #: system of record — ``actions/call.py``).
    executing: set[concurrent.futures.Future[None]] = field(default_factory=set)
    #: Calls seen in this run per (step, action, arguments): the nth identical call is the
    #: nth occurrence — a repeat of the same step replays them in the same order.
    _seen: Counter[str] = field(default_factory=Counter)

    @property
    def stable_tasks(self) -> bool:
        """Whether a LangGraph task id names the same work when it is redone: on a thread
        a resumed node re-runs as the same task; a request retried without one runs its
        graph anew, with new task ids for the same work."""
        return self.thread_id is not None

    def intend(self, deferred: Deferred) -> None:
        """Add a deferred call — replacing one of the same key an earlier attempt of this
        run made (a retry, a restarting fallback: the same work)."""
        key = deferred.entry.key
        self.deferred = [d for d in self.deferred if d.entry.key != key]
        self.deferred.append(deferred)

    def new_attempt(self) -> None:
        """A retry or fallback starts over: its calls are the same work as the first's."""
        self._seen.clear()

    def began(self) -> concurrent.futures.Future[None]:
        """A call starts executing (from the loop or a worker thread): what :meth:`ended`
        resolves."""
        executing: concurrent.futures.Future[None] = concurrent.futures.Future()
        with _COUNTING:
            self.executing.add(executing)
        return executing

    def ended(self, executing: concurrent.futures.Future[None]) -> None:
        with _COUNTING:
            self.executing.discard(executing)
        executing.set_result(None)

    def occurrence(self, call: str) -> int:
        with _COUNTING:  # sync actions count from worker threads, several at once
            self._seen[call] += 1
            return self._seen[call]


_COUNTING = threading.Lock()

current_scope: ContextVar[ActionScope | None] = ContextVar("tokenwire_action_scope", default=None)


@contextmanager
def action_scope(scope: ActionScope) -> Iterator[ActionScope]:
    """Run the block (a run's task) with ``scope`` as its actions' scope."""
    token = current_scope.set(scope)
    try:
        yield scope
    finally:
        current_scope.reset(token)
