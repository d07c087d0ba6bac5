"""The audit trail: one hash-chained record per finished run, written off the stream's path.

A run's done-callback only enqueues it (``put_nowait`` on a bounded queue); one writer task
per process builds the records and appends them to the store in batches, so the chain has a
single writer here and the client's ``run.end`` never waits for the database.

An append is one transaction (several round trips to the database's thread or server, and
a commit) whatever its size, so the writer lets a batch gather for up to ``batch_delay``
after its first run: under a steady trickle of runs that is one append per interval instead
of one per run. ``flush`` and ``aclose`` cut the wait short.

Not ``TelemetryPipeline``: that queue is typed to ``RunRecord``, loses a batch when an
exporter fails and cancels in-flight exports on close — right for metrics, wrong for an
audit log. Here a failed append is retried (with backoff) until it succeeds or the gateway
shuts down, and shutdown drains the queue first.

Besides runs, the queue takes ready entries (``note``: a user's feedback,
:mod:`.feedback`): one writer, one order — a feedback given after its run ended is
chained after the run's record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from tokenwire.audit.record import audit_entry, identity, minimal_entry
from tokenwire.audit.store import AuditStore, store_url
from tokenwire.config import Settings
from tokenwire.runs.run import Run

__all__ = ["AuditTrail", "audit_from_settings"]

log = logging.getLogger("tokenwire.audit")

_DAY = 86_400.0

#: What the writer is handed: a finished run with its request input, or a ready entry.
_Item = tuple[Run, Any] | Mapping[str, Any]


class AuditTrail:
    """Audits the runs it is told to ``watch``.

    >>> trail = AuditTrail(AuditStore("sqlite+aiosqlite:///data/audit.db"))
    >>> gateway = Gateway(routes, audit=trail)
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        max_queue: int = 10_000,
        max_batch: int = 256,
        batch_delay: float = 0.1,
        retention_days: float = 0.0,
        prune_every_seconds: float = 3600.0,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.store = store
        self.retention_days = retention_days
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(max_queue)
        self._max_batch = max_batch
        self._batch_delay = batch_delay
        #: Resolved to end the current batch's gathering early (``flush``, ``aclose``).
        self._hurry: asyncio.Future[None] | None = None
        self._flushing = 0
        self._prune_every = prune_every_seconds
        self._shutdown_timeout = shutdown_timeout
        self._writer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._in_flight = 0
        #: Runs never recorded: the queue was full, or the store was unreachable at shutdown.
        self.dropped = 0
        self.written = 0
        #: Runs recorded only by their ``minimal_entry`` (their full record was refused).
        self.unstorable = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditTrail:
        return cls(
            AuditStore(store_url(settings), schema=settings.audit_schema),
            max_queue=settings.audit_queue_size,
            retention_days=settings.audit_retention_days,
        )

    @property
    def queued(self) -> int:
        return self._queue.qsize() + self._in_flight

    # -- the gateway's side ------------------------------------------------------------------
    def watch(self, run: Run, input: Any) -> None:
        """Record ``run`` (with its request ``input``) once its task is done."""
        if run.task is None:
            raise ValueError(f"run {run.id} has no task to watch")
        run.task.add_done_callback(lambda _: self.submit(run, input))

    def submit(self, run: Run, input: Any) -> None:
        self._enqueue((run, input), run.id)

    def note(self, entry: Mapping[str, Any]) -> None:
        """Chain ``entry`` (plain JSON, with ``run_id``, ``route`` and ``status``) after
        everything submitted so far — a feedback entry (:func:`.feedback.feedback_entry`)."""
        self._enqueue(entry, str(entry.get("run_id")))

    def _enqueue(self, item: _Item, run_id: str) -> None:
        if self._writer is None:  # a gateway used without its lifespan still audits
            self._start_writer()
        try:
            self._queue.put_nowait(item)
            if self._hurry is not None and self._queue.qsize() + 1 >= self._max_batch:
                self._hurry_up()
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("audit queue full: an entry of run %s is not recorded", run_id)

    async def start(self) -> None:
        """Create the store's tables (failing loudly if it is unreachable), then write."""
        await self._ensure_store()
        self._start_writer()
        if self.retention_days > 0 and self._pruner is None:
            self._pruner = asyncio.get_running_loop().create_task(self._prune_forever())

    async def flush(self) -> None:
        """Wait until everything submitted so far is in the store (tests, shutdown)."""
        self._flushing += 1
        self._hurry_up()
        try:
            await self._queue.join()
        finally:
            self._flushing -= 1

    async def aclose(self) -> None:
        """Drain the queue (up to ``shutdown_timeout``), then stop and release the store."""
        if self._writer is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), self._shutdown_timeout)
        for task in (self._pruner, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._pruner = self._writer = self._ready = None
        lost = self._in_flight
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
            lost += 1
        self._in_flight = 0
        if lost:
            self.dropped += lost
            log.error("audit trail closed with %d runs not recorded", lost)
        await self.store.aclose()

    async def prune(self) -> int:
        """Apply ``retention_days`` now; returns how many records were deleted."""
        if self.retention_days <= 0:
            return 0
        deleted = await self.store.prune(time.time() - self.retention_days * _DAY)
        if deleted:
            log.info("audit retention: deleted %d records", deleted)
        return deleted

    # -- the writer ------------------------------------------------------------------------
    def _start_writer(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write_forever(), name="tokenwire-audit-writer"
            )

    async def _ensure_store(self) -> None:
        # Shared, so ``start`` and a lazily started writer create the tables once.
        if self._ready is None:
            self._ready = asyncio.ensure_future(self.store.create())
        await asyncio.shield(self._ready)

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._in_flight = 1
            await self._gather()
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._in_flight = len(batch)
            try:
                await self._write(batch)
            finally:
                # The frame outlives the batch while it waits for the next run: holding it
                # (or its last item, as a loop variable would) keeps the last runs — their
                # whole event logs — alive past their retention on an idle gateway.
                written = len(batch)
                batch.clear()
                for _ in range(written):
                    self._queue.task_done()
            self._in_flight = 0

    async def _gather(self) -> None:
        """Let more runs join the batch: until ``batch_delay`` passed, a full batch is
        queued, or someone waits in ``flush``."""
        if self._batch_delay <= 0 or self._flushing or self._queue.qsize() + 1 >= self._max_batch:
            return
        loop = asyncio.get_running_loop()
        hurry = self._hurry = loop.create_future()
        timer = loop.call_later(self._batch_delay, _resolve, hurry)
        try:
            await hurry
        finally:
            timer.cancel()
            self._hurry = None

    def _hurry_up(self) -> None:
        if self._hurry is not None:
            _resolve(self._hurry)

    async def _write(self, batch: list[_Item]) -> None:
        entries = []
        for item in batch:
            if not isinstance(item, tuple):
                entries.append(dict(item))
                continue
            run, input = item
            try:
                entries.append(await audit_entry(run, input))
            except Exception as exc:
                log.exception("cannot build the audit record of run %s", run.id)
                problem = f"its record could not be built: {exc!r}"
                entries.append(minimal_entry(identity(run), problem))
                self.unstorable += 1
        await self._append(entries)

    async def _append(self, entries: list[dict[str, Any]]) -> None:
        """Append ``entries``, retrying while the store is away (an audit trail with silent
        holes is worse than a late one) — but never wedged by one record the store refuses
        while it is up: a refused batch is appended record by record, and a record refused
        twice on its own is replaced by its :func:`minimal_entry`, so later runs keep being
        recorded and this one still has its place in the chain."""
        delay, refusals = 0.5, 0
        while True:
            try:
                await self._ensure_store()
                await self.store.append(entries)
            except Exception as exc:
                if _transient(exc) or not await self._store_is_up():
                    log.exception("audit store append failed; retrying in %.1fs", delay)
                    self._ready = None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                if len(entries) > 1:
                    for entry in entries:
                        await self._append([entry])
                    return
                refusals += 1
                entry = entries[0]
                if refusals == 1:
                    continue  # once more as it is: the refusal may have been a passing one
                if "unstorable" in entry:  # even the minimal record: nothing left to store
                    self.dropped += 1
                    log.error("audit record of run %s dropped: %r", entry.get("run_id"), exc)
                    return
                log.error("audit store refused the record of run %s: %r", entry.get("run_id"), exc)
                self.unstorable += 1
                entries = [minimal_entry(entry, f"the store refused its record: {exc!r}")]
            else:
                self.written += len(entries)
                return

    async def _store_is_up(self) -> bool:
        try:
            await self.store.ping()
        except Exception:
            return False
        return True

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune()
            except Exception:
                log.exception("audit retention failed")
            await asyncio.sleep(self._prune_every)


def _transient(exc: Exception) -> bool:
    """Errors of a store that is busy or away (locked, disconnected, timed out), never of
    the record: the same append will do once it is back."""
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def audit_from_settings(settings: Settings) -> AuditTrail | None:
    """The trail ``create_app`` and ``tokenwire serve`` give their gateway (None when off)."""
    return AuditTrail.from_settings(settings) if settings.audit_enabled else None
