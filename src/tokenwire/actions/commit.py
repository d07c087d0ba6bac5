"""Deferred actions (``commit = "after_validation"``): executed only once the run has
ended ``completed`` — no guardrail stop, no failure, no cancel — else discarded.

During the stream such a call is recorded ``intended`` and the agent gets a placeholder
result (:data:`PENDING`); its run's end then commits every intended call in order —
``action.committed`` with the result, or ``action.failed`` — or, for a run that ended any
other way, records ``action.discarded`` and executes nothing. The events come before
``run.end``. A run that paused (``interrupted``, on a thread) settles nothing: its calls
wait in the ledger for the run that resumes the thread, on any replica (:mod:`.settle`).

Settling never stops a run from ending: each call's execution is bounded by the commit
deadline (a hung system of record fails that call, not the run), and a ledger that cannot
be written (after the retries of :mod:`.durable`) is logged and named in the event
(``recorded: false``), not raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tokenwire.actions.durable import DurableLedger
from tokenwire.actions.ledger import ActionEntry, ActionStatus, Ledger
from tokenwire.actions.replay import recorded
from tokenwire.langchain.output import to_jsonable

__all__ = ["Deferred", "Report", "commit_deferred", "discard_deferred", "placeholder"]

#: ``report(event_type, data)``: the run's events (the recorder appends them).
Report = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Deferred:
    entry: ActionEntry
    #: Executes the call (in a worker thread when it is a sync function).
    execute: Callable[[], Awaitable[Any]]


def placeholder(entry: ActionEntry) -> dict[str, Any]:
    """What the agent gets for a deferred call while the run streams."""
    return {"status": "pending_commit", "action": entry.action, "key": entry.key}


def _data(entry: ActionEntry, written: bool, **extra: Any) -> dict[str, Any]:
    data = {"key": entry.key, "name": entry.action, "args": entry.args, **extra}
    return data if written else {**data, "recorded": False}


async def commit_deferred(
    pending: list[Deferred],
    ledger: Ledger,
    outcomes: Any,
    report: Report,
    *,
    limit_seconds: float,
) -> None:
    """Execute each intended call, in the order they were made, each within
    ``limit_seconds`` (0: no limit)."""
    for deferred in pending:
        entry = deferred.entry
        try:
            value = await _bounded(deferred.execute(), limit_seconds)
        except Exception as exc:
            error = _describe(exc, limit_seconds)
            written = await _written(ledger, entry, "failed", error=error)
            outcomes[(entry.action, "failed")] += 1
            report("action.failed", _data(entry, written, error=error))
            continue
        written = await _written(ledger, entry, "succeeded", recorded(value))
        outcomes[(entry.action, "succeeded")] += 1
        report("action.committed", _data(entry, written, result=to_jsonable(value)))


def discard_deferred(
    pending: list[Deferred], ledger: Ledger, outcomes: Any, report: Report
) -> list[asyncio.Task[bool]]:
    """Record every intended call discarded. Synchronous — a cancelled run's task must not
    await — so the ledger writes run as tasks of their own (returned, to keep)."""
    loop = asyncio.get_running_loop()
    writes = []
    for deferred in pending:
        entry = deferred.entry
        outcomes[(entry.action, "discarded")] += 1
        report("action.discarded", _data(entry, True))
        writes.append(loop.create_task(_written(ledger, entry, "discarded")))
    return writes


async def _bounded(work: Awaitable[Any], limit_seconds: float) -> Any:
    async with asyncio.timeout(limit_seconds if limit_seconds > 0 else None):
        return await work


async def _written(
    ledger: Ledger,
    entry: ActionEntry,
    status: ActionStatus,
    result: Any = None,
    error: str | None = None,
) -> bool:
    """Whether the ledger took the write (retried, :mod:`.durable`). A ledger that is down
    must not keep the run from ending: the call happened (or did not) either way; the
    event says which."""
    # A bare ledger (not the gateway's): written once, as it always was.
    durable = ledger if isinstance(ledger, DurableLedger) else DurableLedger(ledger, delays=())
    return await durable.written(entry.key, status, result, error, entry.run_id)


def _describe(exc: BaseException, limit_seconds: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: the commit took longer than {limit_seconds:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
