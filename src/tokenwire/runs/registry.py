"""The run registry: every live and retained run of this process, bounded in number and age."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from tokenwire.broker.base import Broker
from tokenwire.errors import RegistryFull
from tokenwire.runs.run import Run

__all__ = ["RunRegistry"]


class RunRegistry:
    def __init__(self, broker: Broker, *, max_runs: int, retention_seconds: float) -> None:
        self._broker = broker
        self._max_runs = max_runs
        self._retention = retention_seconds
        # Insertion order is creation order, so eviction scans oldest first.
        self._runs: dict[str, Run] = {}
        self._idempotency: dict[tuple[str, str], str] = {}

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs.values()))

    def get(self, run_id: str) -> Run | None:
        return self._runs.get(run_id)

    def by_idempotency_key(self, route: str, key: str) -> Run | None:
        run_id = self._idempotency.get((route, key))
        return None if run_id is None else self._runs.get(run_id)

    def add(self, run: Run) -> None:
        """Register ``run``; evicts expired runs, then the oldest finished one if full."""
        if len(self._runs) >= self._max_runs:
            self.sweep()
        if len(self._runs) >= self._max_runs and not self._evict_oldest_finished():
            raise RegistryFull(self._max_runs)
        self._runs[run.id] = run
        if run.idempotency_key is not None:
            self._idempotency[(run.route, run.idempotency_key)] = run.id

    def sweep(self, now: float | None = None) -> int:
        """Forget finished runs older than the retention period; returns how many."""
        cutoff = (now if now is not None else time.time()) - self._retention
        expired = [r for r in self._runs.values() if r.ended_at is not None and r.ended_at < cutoff]
        for run in expired:
            self._forget(run)
        return len(expired)

    async def sweep_forever(self, interval_seconds: float) -> None:
        """:meth:`sweep` every ``interval_seconds`` until cancelled (the gateway's sweeper)."""
        while True:
            await asyncio.sleep(interval_seconds)
            self.sweep()

    def live(self) -> list[Run]:
        return [r for r in self._runs.values() if not r.done]

    async def cancel_all(self, reason: str) -> None:
        """Cancel every live run and wait until each has written its ``run.end``."""
        tasks = [r.task for r in self.live() if r.task is not None and r.cancel(reason)]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _evict_oldest_finished(self) -> bool:
        for run in self._runs.values():
            if run.done:
                self._forget(run)
                return True
        return False

    def _forget(self, run: Run) -> None:
        del self._runs[run.id]
        self._broker.discard(run.id)
        if run.idempotency_key is not None:
            self._idempotency.pop((run.route, run.idempotency_key), None)
