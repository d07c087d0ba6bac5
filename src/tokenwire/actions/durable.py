"""Writing how an action call ended, durably: retried, and never lost silently.

A call that executed must be recorded, or a duplicate finds its row ``running`` for ever —
and the result is lost. :class:`DurableLedger` (one per run, outermost in its ledger
chain) retries each write of an outcome a bounded number of times, with backoff
(:data:`DELAYS`). A write that still fails does not fail the call: the action did run, and
its result goes back to the agent; the outcome is kept for the run's audit record, marked
``recorded: false`` (``keep``, the run recorder's ``unrecorded_action``), and a warning is
logged. Only a call's ``intended`` write raises (a deferred call executed nothing yet).

A row left ``running`` so has a run that ends: a later duplicate — once that run is not
alive (:attr:`~tokenwire.actions.scope.ActionScope.alive`) — takes the row over and
executes the call again, with the same idempotency key handed downstream, which is what
keeps the system of record's side single. Deferred calls' settlements (:mod:`.commit`)
go through :meth:`DurableLedger.written` and say ``recorded: false`` in their own event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tokenwire.actions.ledger import FINISHED, ActionEntry, ActionStatus, Ledger
from tokenwire.actions.replay import restored
from tokenwire.langchain.output import to_jsonable

__all__ = ["DELAYS", "DurableLedger", "Keep"]

log = logging.getLogger("tokenwire.actions")

#: Pauses between the attempts of one write: four attempts within about 1.3 s — a
#: database failing over, a pool reconnecting — before the outcome is kept unrecorded.
DELAYS: tuple[float, ...] = (0.05, 0.25, 1.0)

#: ``keep(event, data)``: an outcome the ledger did not take, for the run's audit record.
Keep = Callable[[str, dict[str, Any]], None]

#: The event an outcome is audited as (those of deferred calls: one shape for both).
_AUDITED_AS: dict[str, str] = {
    "succeeded": "action.committed",
    "failed": "action.failed",
    "discarded": "action.discarded",
}


class DurableLedger:
    """``inner`` with every write of an outcome retried (``delays``, slept with
    ``sleep``), and kept with ``keep`` when it never went through."""

    def __init__(
        self,
        inner: Ledger,
        *,
        keep: Keep | None = None,
        delays: Sequence[float] = DELAYS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self._keep = keep
        self._delays = tuple(delays)
        self._sleep = sleep
        #: The calls this run began (what a kept outcome names: its action, arguments).
        self._calls: dict[str, ActionEntry] = {}

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        existing = await self.inner.begin(entry)
        if existing is None:
            self._calls[entry.key] = entry
        return existing

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        taken = await self.inner.retry(entry, holder)
        if taken:
            self._calls[entry.key] = entry
        return taken

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        failure = await self._write(key, status, result, error, run_id, sealed, commit_args)
        if failure is None:
            return
        if status not in FINISHED:  # ``intended``: nothing ran yet, the call may fail
            raise failure
        log.warning(
            "the action ledger did not record %s %s after %d attempts (%s): kept for the "
            "run's audit record, unrecorded",
            key,
            status,
            len(self._delays) + 1,
            failure,
        )
        if self._keep is not None:
            self._keep(_AUDITED_AS[status], self._outcome(key, result, error))

    async def written(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
    ) -> bool:
        """Write an outcome its caller reports itself (a deferred call's settlement):
        retried like :meth:`finish`; whether it went through, never raising."""
        failure = await self._write(key, status, result, error, run_id, None, None)
        if failure is not None:
            log.warning("the action ledger did not record %s %s: %s", key, status, failure)
        return failure is None

    async def _write(
        self,
        key: str,
        status: ActionStatus,
        result: Any,
        error: str | None,
        run_id: str | None,
        sealed: str | None,
        commit_args: Any,
    ) -> Exception | None:
        """The last failure, once every attempt failed; None when one went through."""
        failure: Exception | None = None
        for delay in (*self._delays, None):
            try:
                await self.inner.finish(
                    key, status, result, error, run_id, sealed=sealed, commit_args=commit_args
                )
            except Exception as exc:
                failure = exc
            else:
                return None
            if delay is not None:
                await self._sleep(delay)
        return failure

    def _outcome(self, key: str, result: Any, error: str | None) -> dict[str, Any]:
        call = self._calls.get(key)
        data: dict[str, Any] = {"key": key}
        if call is not None:
            data |= {"name": call.action, "args": call.args}
        if error is not None:
            data["error"] = error
        else:
            data["result"] = to_jsonable(restored(result))
        return {**data, "recorded": False}

    async def release(self, key: str, run_id: str) -> None:
        await self.inner.release(key, run_id)

    async def get(self, key: str) -> ActionEntry | None:
        return await self.inner.get(key)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        return await self.inner.entries(
            thread_id=thread_id, run_id=run_id, status=status, limit=limit
        )

    async def expire(self, before: float) -> int:
        return await self.inner.expire(before)

    # A run's view: the gateway sets up and closes the ledger it wraps.
    async def setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
