"""Deferred actions (``commit = "after_validation"``): executed only once the run has
ended ``completed`` — no guardrail stop, no failure, no cancel — else discarded.

During the stream such a call is recorded ``intended`` and the agent gets a placeholder
result (:data:`PENDING`); its run's end then commits every intended call in order —
``action.committed`` with the result, or ``action.failed`` — or, for a run that ended any
other way, records ``action.discarded`` and executes nothing. The events come before
``run.end``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tokenwire.actions.ledger import ActionEntry, Ledger
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


def _data(entry: ActionEntry, **extra: Any) -> dict[str, Any]:
    return {"key": entry.key, "name": entry.action, "args": entry.args, **extra}


async def commit_deferred(
    pending: list[Deferred], ledger: Ledger, outcomes: Any, report: Report
) -> None:
    """Execute each intended call, in the order they were made."""
    for deferred in pending:
        entry = deferred.entry
        try:
            result = to_jsonable(await deferred.execute())
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            await ledger.finish(entry.key, "failed", error=error, run_id=entry.run_id)
            outcomes[(entry.action, "failed")] += 1
            report("action.failed", _data(entry, error=error))
            continue
        await ledger.finish(entry.key, "succeeded", result, run_id=entry.run_id)
        outcomes[(entry.action, "succeeded")] += 1
        report("action.committed", _data(entry, result=result))


def discard_deferred(
    pending: list[Deferred], ledger: Ledger, outcomes: Any, report: Report
) -> list[asyncio.Task[None]]:
    """Record every intended call discarded. Synchronous — a cancelled run's task must not
    await — so the ledger writes run as tasks of their own (returned, to keep)."""
    loop = asyncio.get_running_loop()
    writes = []
    for deferred in pending:
        entry = deferred.entry
        outcomes[(entry.action, "discarded")] += 1
        report("action.discarded", _data(entry))
        writes.append(loop.create_task(ledger.finish(entry.key, "discarded", run_id=entry.run_id)))
    return writes
