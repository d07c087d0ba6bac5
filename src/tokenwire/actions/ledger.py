"""The action ledger: what each keyed action call did, shared by every run that redoes it.

:class:`MemoryLedger` lives in one process; :class:`~.sql_ledger.SqlLedger` is durable and
shared by replicas (SQLAlchemy on SQLite or PostgreSQL — by default the audit database).
The first call of a key begins it (``running``) and finishes it (``succeeded`` with its
result, or ``failed``); every later call of the key reads what it did. Finished entries
older than the retention are deleted (:meth:`Ledger.expire`, :mod:`.retention`).

A ``running`` entry whose run has ended (not alive: its replica died mid-call, or the
write of how it ended never went through, :mod:`.durable`) is taken over by the next
duplicate, which executes the call again with the same idempotency key — the key handed
downstream keeps the system of record's side single.

What an entry holds is what may be shown: on a route masking tool steps its arguments,
result and error are masked, the raw result kept only sealed (:mod:`.protection`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

__all__ = ["FINISHED", "ActionEntry", "ActionStatus", "Ledger", "MemoryLedger"]

#: ``intended``: a deferred call waiting for its run to end; ``discarded``: its run did not
#: complete, so it never executed.
ActionStatus = Literal["running", "intended", "succeeded", "failed", "discarded"]
#: The statuses of a call that will not change by itself: what retention deletes.
FINISHED: tuple[ActionStatus, ...] = ("succeeded", "failed", "discarded")


@dataclass(frozen=True, slots=True)
class ActionEntry:
    key: str
    action: str
    #: As recorded: masked by the route's PII masking when it masks tool steps.
    args: Any
    run_id: str
    thread_id: str | None = None
    status: ActionStatus = "running"
    #: As recorded: masked like ``args`` (a replay returns the raw result, unsealed).
    result: Any = None
    error: str | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    #: The raw result, encrypted (Fernet, ``audit_input_key``), where ``result`` is masked;
    #: never shown (``GET /v1/actions`` leaves it out).
    sealed: str | None = None
    #: An ``intended`` call's own arguments as its function takes them (in
    #: :func:`~.replay.recorded` form), so that whichever replica settles the call can
    #: execute it — sealed (``{"$sealed": ...}``) where masking changes them. Cleared once
    #: the call settles; never shown.
    commit_args: Any = None


class Ledger(Protocol):
    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        """Record ``entry`` as ``running``: None when this call is the key's first, else
        the entry already holding the key."""

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        """Take over a ``failed`` key for ``entry`` (a retryable action) — or, given the
        ``holder``, a ``running`` one whose run is gone (its replica died mid-call): False
        if another call took it first."""

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
        """Record how the call ended — only while ``run_id`` (when given) still holds the
        key: a late writer must not overwrite a run that took it over. ``sealed``: the raw
        result, encrypted, when ``result`` is masked; ``commit_args``: what an
        ``intended`` call will execute with."""

    async def release(self, key: str, run_id: str) -> None:
        """Forget a call ``run_id`` holds that did not end (its run paused or was
        cancelled inside it): the work redone executes it afresh."""

    async def get(self, key: str) -> ActionEntry | None: ...

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        """Entries matching every filter given, newest first."""

    async def expire(self, before: float) -> int:
        """Delete the finished entries (:data:`FINISHED`) that finished before ``before``
        (a wall-clock time); returns how many. A call still running or intended stays."""

    async def setup(self) -> None:
        """Create what the ledger needs (its table); called once at gateway start."""

    async def aclose(self) -> None: ...


class MemoryLedger:
    """A ledger in this process (a gateway without a database, and tests)."""

    def __init__(self) -> None:
        self.entries_by_key: dict[str, ActionEntry] = {}

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        existing = self.entries_by_key.get(entry.key)
        if existing is not None:
            return existing
        self.entries_by_key[entry.key] = replace(entry, started_at=time.time())
        return None

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        existing = self.entries_by_key.get(entry.key)
        if existing is None or not _takes_over(existing, holder):
            return False
        self.entries_by_key[entry.key] = replace(entry, started_at=time.time())
        return True

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
        entry = self.entries_by_key.get(key)
        if entry is None or (run_id is not None and entry.run_id != run_id):
            return
        self.entries_by_key[key] = replace(
            entry,
            status=status,
            result=result,
            error=error,
            sealed=sealed,
            commit_args=commit_args,
            finished_at=time.time(),
        )

    async def release(self, key: str, run_id: str) -> None:
        entry = self.entries_by_key.get(key)
        if entry is not None and entry.run_id == run_id and entry.status == "running":
            del self.entries_by_key[key]

    async def get(self, key: str) -> ActionEntry | None:
        return self.entries_by_key.get(key)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        wanted = {"thread_id": thread_id, "run_id": run_id, "status": status}
        found = [
            e
            for e in self.entries_by_key.values()
            if all(v is None or getattr(e, k) == v for k, v in wanted.items())
        ]
        return sorted(found, key=lambda e: e.started_at, reverse=True)[:limit]

    async def expire(self, before: float) -> int:
        gone = [
            key
            for key, e in self.entries_by_key.items()
            if e.status in FINISHED and e.finished_at is not None and e.finished_at < before
        ]
        for key in gone:
            del self.entries_by_key[key]
        return len(gone)

    async def setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _takes_over(existing: ActionEntry, holder: ActionEntry | None) -> bool:
    if holder is None:
        return existing.status == "failed"
    return existing.status == holder.status and existing.run_id == holder.run_id
