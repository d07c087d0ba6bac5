"""Pending approvals expire: a thread left waiting for a human is answered ``reject``.

When a run ends ``interrupted`` with ``approval.required`` events, a timer starts for
``approval_timeout_seconds``. If the thread still waits at the same interrupts when it
fires, every pending call is rejected (``"the approval timed out"``) by a resumed run,
started as the thread's owner with ``metadata.approval = "expired"`` — so the expiry is a
run like any decision: streamed to whoever follows the thread, audited, measured. Timers
live in the replica whose run paused; one lost with its replica leaves the thread waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tokenwire.errors import RunRefused
from tokenwire.events import EventType, RunStatus
from tokenwire.runs.run import Run
from tokenwire.security.principal import Principal, Role, current_principal

__all__ = ["ApprovalExpiry"]

log = logging.getLogger("tokenwire.threads")

#: ``(thread_id, decisions)`` → the route and resume command (``ThreadGate.approvals``).
Decide = Callable[[str, list[dict[str, Any]]], Awaitable[tuple[str, dict[str, Any]]]]
#: Start the resumed run: ``(route, thread_id, command)``.
Resume = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
#: The thread's pending approvals: ``[(call_id, interrupt_id)]``.
Pending = Callable[[str], Awaitable[list[tuple[str, str]]]]


class ApprovalExpiry:
    def __init__(self, timeout: float, pending: Pending, decide: Decide, resume: Resume) -> None:
        self._timeout = timeout
        self._pending = pending
        self._decide = decide
        self._resume = resume
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def run_ended(self, thread_id: str, owner: str, run: Run) -> None:
        """Start the timer if ``run`` paused for approvals on ``owner``'s thread."""
        if self._timeout <= 0 or run.status is not RunStatus.INTERRUPTED:
            return
        waiting = {
            e.data.get("interrupt_id")
            for e in run.log.since(0)
            if e.type == EventType.APPROVAL_REQUIRED
        }
        if not waiting:
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def fire() -> None:
            self._timers.discard(timer)  # type: ignore[arg-type]
            task = loop.create_task(self._expire(thread_id, owner, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        timer = loop.call_later(self._timeout, fire)
        self._timers.add(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    async def _expire(self, thread_id: str, owner: str, waiting: set[Any]) -> None:
        # As the thread's owner: it may read the thread and its limits pay for the run.
        token = current_principal.set(Principal(owner, frozenset({Role.CLIENT})))
        try:
            pending = await self._pending(thread_id)
            calls = [call_id for call_id, interrupt_id in pending if interrupt_id in waiting]
            if not calls or len(calls) != len(pending):
                # Decided (or paused again at other interrupts) meanwhile.
                log.info("thread %s: no approval left to expire", thread_id)
                return
            message = f"the approval timed out after {self._timeout:g} s"
            decisions = [{"call_id": c, "type": "reject", "message": message} for c in calls]
            route, command = await self._decide(thread_id, decisions)
            await self._resume(route, thread_id, command)
            log.info("thread %s: %d pending approval(s) expired", thread_id, len(calls))
        except RunRefused as exc:  # the thread is busy, gone, or no longer the owner's
            log.info("thread %s: approvals not expired: %s", thread_id, exc.detail)
        except Exception:
            log.exception("thread %s: expiring its approvals failed", thread_id)
        finally:
            current_principal.reset(token)
