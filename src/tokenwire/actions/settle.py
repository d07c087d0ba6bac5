"""A run's end settles its deferred calls — its own, and those its thread's paused run left.

A run's own deferred calls (:mod:`.commit`) commit when it completed, are discarded when
it ended any other way, and stay ``intended`` in the ledger when it paused on its thread.
What a paused run left is found in the ledger, not in memory — the run that resumes the
thread may be on another replica, or this gateway may have restarted since — as the
thread's ``intended`` calls of runs that are over (not alive on any replica). These
**carried** calls:

- commit, before the run's own, when the run resumes the thread (answers its pause, a
  ``Command``) and completes; stay ``intended`` when it pauses again; are discarded
  otherwise;
- are discarded by any other run on the thread (a new turn): the pause was not answered.

A carried call is claimed first — ``intended`` → ``running`` under this run, one
conditional write, so two settlers never both execute it — then executes the function
registered under its action name (:mod:`.registry`) with the arguments it recorded
(``commit_args``). A node re-run on resume that makes the same call again takes its row
over (``actions/call.py``): it is then this run's own, not carried.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from functools import partial
from typing import Any, Literal

from tokenwire.actions.arguments import OwnArguments
from tokenwire.actions.call import run_keyed
from tokenwire.actions.commit import Deferred, Report, commit_deferred, discard_deferred
from tokenwire.actions.ledger import ActionEntry
from tokenwire.actions.protection import is_sealed
from tokenwire.actions.registry import lookup
from tokenwire.actions.replay import restored
from tokenwire.actions.scope import ActionScope

__all__ = ["CannotCommit", "Ending", "settle"]

log = logging.getLogger("tokenwire.actions")

#: How the run ended, as settling sees it: ``paused`` is ``interrupted`` (on a thread).
Ending = Literal["completed", "paused", "ended"]

#: At most this many of a thread's carried calls settle with one run.
_CARRIED_LIMIT = 1000


class CannotCommit(Exception):
    """A carried call this process cannot execute (reported ``action.failed``)."""


async def settle(scope: ActionScope, ending: Ending, report: Report) -> None:
    """Settle the run's deferred calls and its thread's carried ones (module docstring)."""
    own, scope.deferred = scope.deferred, []
    carried = await _carried(scope)
    paused = ending == "paused" and scope.thread_id is not None
    if carried and not (scope.resumes and (ending == "completed" or paused)):
        scope.writes += discard_deferred(carried, scope.ledger, scope.outcomes, report)
        carried = []
    if paused:
        return
    if ending != "completed":
        scope.writes += discard_deferred(own, scope.ledger, scope.outcomes, report)
        return
    pending = [*await _claimed(scope, carried), *own]
    await commit_deferred(
        pending, scope.ledger, scope.outcomes, report, limit_seconds=scope.commit_timeout
    )


async def _carried(scope: ActionScope) -> list[Deferred]:
    """The thread's calls that runs now over left ``intended``, oldest first. A ledger
    that cannot be read carries none (they stay ``intended`` for the next run)."""
    if scope.thread_id is None or scope.alive is None:
        return []
    limit = scope.commit_timeout
    try:
        async with asyncio.timeout(limit if limit > 0 else None):
            return await _left_intended(scope, scope.thread_id)
    except Exception as exc:
        log.warning(
            "run %s could not read thread %s's intended @action calls (%s): they stay intended",
            scope.run_id,
            scope.thread_id,
            exc,
        )
        return []


async def _left_intended(scope: ActionScope, thread_id: str) -> list[Deferred]:
    assert scope.alive is not None
    found = await scope.ledger.entries(thread_id=thread_id, status="intended", limit=_CARRIED_LIMIT)
    others = [entry for entry in reversed(found) if entry.run_id != scope.run_id]
    over = {run_id for run_id in {e.run_id for e in others} if not await scope.alive(run_id)}
    return [Deferred(e, partial(_execute, e)) for e in others if e.run_id in over]


async def _claimed(scope: ActionScope, carried: list[Deferred]) -> list[Deferred]:
    """The carried calls this run took over (``running``, its own): one another settler
    claimed first is left to it."""
    taken = []
    for deferred in carried:
        left = deferred.entry
        mine = replace(left, run_id=scope.run_id, status="running", commit_args=None)
        try:
            claimed = await scope.ledger.retry(mine, holder=left)
        except Exception as exc:
            log.warning("run %s could not claim @action call %s: %s", scope.run_id, left.key, exc)
            continue
        if claimed:
            taken.append(Deferred(mine, deferred.execute))
        else:
            log.info("@action call %s was settled by another run", left.key)
    return taken


async def _execute(entry: ActionEntry) -> Any:
    """Execute a carried call: its action's registered function, its recorded arguments."""
    registered = lookup(entry.action)
    if registered is None:
        raise CannotCommit(
            f"no @action named {entry.action!r} in this process: every replica must import "
            "the module that defines it"
        )
    if entry.commit_args is None:
        raise CannotCommit(f"the arguments of {entry.action!r} were not recorded")
    if is_sealed(entry.commit_args):
        raise CannotCommit(
            f"the arguments of {entry.action!r} are sealed with a key this gateway does not "
            "have: give every replica the same audit_input_key"
        )
    try:
        args, kwargs = OwnArguments.of(registered.fn).rebound(restored(entry.commit_args))
    except TypeError as exc:
        raise CannotCommit(f"{entry.action!r} cannot be committed here: {exc}") from None
    return await run_keyed(entry.key, registered.fn, args, kwargs)
