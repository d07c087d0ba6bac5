"""The bounded, batching queue every exporter sits behind.

``submit`` never waits: when the queue is full the record is dropped and counted. A worker
task drains the queue in batches and hands each batch to every exporter; an exporter that
raises loses that batch (counted), never the gateway's streams. Synchronous exporters run on
one export thread (``worker.ExportThread``), in order: the loop only enqueues. Only an
exporter marked ``in_loop = True`` (an in-memory append the loop also reads) runs on the loop;
a coroutine ``export`` is awaited there. ``aclose`` gives the last flush and the exporters'
``close`` at most ``grace`` seconds; what is still queued then is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from tokenwire.telemetry.record import RunRecord
from tokenwire.telemetry.worker import ExportThread

__all__ = ["Exporter", "TelemetryPipeline"]

log = logging.getLogger("tokenwire.telemetry")


class Exporter(Protocol):
    name: str

    def export(self, records: Sequence[RunRecord]) -> Awaitable[None] | None:
        """Deliver a batch; may be sync (fast, in-loop) or async."""

    def close(self) -> Awaitable[None] | None: ...


class TelemetryPipeline:
    def __init__(
        self,
        exporters: Sequence[Exporter],
        *,
        max_queue: int = 10_000,
        max_batch: int = 256,
        on_drop: DropCounter | None = None,
        grace: float = 10.0,
    ) -> None:
        self.exporters = list(exporters)
        self._queue: asyncio.Queue[RunRecord] = asyncio.Queue(max_queue)
        self._max_batch = max_batch
        self._on_drop = on_drop
        self._worker: asyncio.Task[None] | None = None
        self._grace = grace
        self._thread = ExportThread()
        self.dropped = 0
        #: Records still queued when ``aclose`` ran out of grace (also counted in ``dropped``).
        self.abandoned = 0
        #: Exporters whose ``close`` had not returned when the grace ran out.
        self.unclosed: list[str] = []
        self._closed: set[str] = set()

    def submit(self, record: RunRecord) -> None:
        if self._worker is None:  # a gateway used without its lifespan still exports
            self.start()
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self._drop("queue", 1)

    def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._drain_forever())

    async def flush(self) -> None:
        """Export everything queued so far (tests, shutdown)."""
        while not self._queue.empty():
            await self._export(self._take_batch())

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        try:
            await asyncio.wait_for(self._flush_and_close(), self._grace)
        except TimeoutError:
            left = self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            log.warning("telemetry shutdown grace over; %d queued records abandoned", left)
            self.abandoned += left
            self.unclosed = [e.name for e in self.exporters if e.name not in self._closed]
            if left:
                self._drop("shutdown", left)
        finally:
            self._thread.stop()

    async def _flush_and_close(self) -> None:
        await self.flush()
        for exporter in self.exporters:
            with contextlib.suppress(Exception):
                if _in_loop(exporter, exporter.close):
                    result = exporter.close()
                    if inspect.isawaitable(result):
                        await result
                else:
                    await asyncio.shield(self._thread.run(exporter.close))
            self._closed.add(exporter.name)

    async def _drain_forever(self) -> None:
        while True:
            first = await self._queue.get()
            await self._export([first, *self._take_batch(self._max_batch - 1)])
            del first  # not kept while waiting for the next one (a record holds every gap)

    def _take_batch(self, limit: int | None = None) -> list[RunRecord]:
        batch: list[RunRecord] = []
        limit = self._max_batch if limit is None else limit
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _export(self, batch: list[RunRecord]) -> None:
        if not batch:
            return
        for exporter in self.exporters:
            try:
                if _in_loop(exporter, exporter.export):
                    result = exporter.export(batch)
                    if inspect.isawaitable(result):
                        await result
                else:
                    # Shielded: a cancelled flush must not forget a batch the thread holds.
                    await asyncio.shield(self._thread.run(_call(exporter, batch)))
            except Exception:
                log.exception(
                    "telemetry exporter %s failed; %d records lost", exporter.name, len(batch)
                )
                self._drop(exporter.name, len(batch))

    def _drop(self, exporter: str, count: int) -> None:
        self.dropped += count
        if self._on_drop is not None:
            self._on_drop(exporter, count)


class DropCounter(Protocol):
    def __call__(self, exporter: str, count: int) -> None: ...


def _in_loop(exporter: Exporter, method: object) -> bool:
    return bool(getattr(exporter, "in_loop", False)) or inspect.iscoroutinefunction(method)


def _call(exporter: Exporter, batch: list[RunRecord]) -> Callable[[], None]:
    def job() -> None:
        exporter.export(batch)

    return job
