"""The one thread every synchronous exporter runs on, so the event loop only enqueues.

One thread keeps batches in order. It is a daemon: a collector that never answers can hold
it, but never the process's exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["ExportThread"]

_STOP = object()


class ExportThread:
    def __init__(self, name: str = "tokenwire-telemetry") -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._name = name
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: ``threading.get_ident()`` of the thread, once started.
        self.ident: int | None = None

    def run(self, job: Callable[[], object]) -> asyncio.Future[None]:
        """Queue ``job``; the returned future resolves on the caller's loop when it is done."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._ensure_started()
        self._jobs.put((job, loop, done))
        return done

    def stop(self) -> None:
        """Let the thread end after the jobs already queued (does not wait for it)."""
        if self._thread is not None:
            self._jobs.put(_STOP)
            self._thread = None

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        self.ident = threading.get_ident()
        while True:
            item = self._jobs.get()
            if item is _STOP:
                return
            job, loop, done = item
            error: BaseException | None = None
            try:
                job()
            except BaseException as exc:  # handed back to the awaiting task
                error = exc
            # A closed loop: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
