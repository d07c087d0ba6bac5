"""The guard stage for async guards: the checks run off the token path, in a worker task.

Calls are queued (a token costs a list append); a worker task, started on the first one,
takes them in batches and awaits the guards (a classifier behind a network call), so the
model is never slowed down by the classifier. What the worker finds wrong (a guard raised,
the log is full) is raised in the run's task at its next token or at drain.
"""

from __future__ import annotations

import asyncio

from tokenwire.pipeline.guard_stage import GUARD_ERRORS, Call, GuardStage

__all__ = ["GuardWorker"]


class GuardWorker(GuardStage):
    """Guards awaited in a worker task, in batches (see the module docstring)."""

    # An idle stream holds no worker: it and its queue come with the first call.
    _worker: asyncio.Task[None] | None = None
    _wake: asyncio.Future[None] | None = None
    _queue: list[Call]

    def _hold(self, text: str) -> bool:
        self._take(text)
        return False  # released by the worker, never before the caller yields

    def _take(self, item: Call) -> None:
        if self._worker is None:
            self._queue = [item]
            self._worker = asyncio.get_running_loop().create_task(self._work())
            return
        self._queue.append(item)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def drain(self) -> None:
        await super().drain()
        if self._worker is not None:
            # A stop found now cancels the run's task (Run.stop): let that cancellation through.
            await asyncio.shield(self._worker)
        self._raise_deferred()

    def discard_unshown(self) -> None:
        self._queue = []
        super().discard_unshown()

    def cancel(self) -> None:
        super().cancel()
        if self._worker is not None:
            self._worker.cancel()

    async def _work(self) -> None:
        try:
            with GUARD_ERRORS:
                await self._batches()
        except Exception as exc:
            self._error = exc

    async def _batches(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake = loop.create_future()
                await self._wake
            batch, self._queue = self._queue, []
            if await self._process(batch):
                return
