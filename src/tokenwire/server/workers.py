"""``tokenwire serve --workers N``: N gateway processes sharing one listening socket.

uvicorn's own multi-process supervisor would run plain ``uvicorn.Server`` workers, which
close connections before live runs end; each of these workers is a full ``tokenwire
serve`` process with its own draining shutdown (see :mod:`tokenwire.server.shutdown`).
The parent binds the socket once, starts the workers, forwards SIGTERM/SIGINT to them,
and restarts one that dies unexpectedly. Runs are shared between workers through Redis
(``redis_url``), so a client that reconnects to another worker still rejoins its run.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

__all__ = ["run_workers"]

log = logging.getLogger("tokenwire")

#: A worker that dies within this many seconds of starting is not restarted (a broken app).
_MIN_LIFETIME = 5.0


def run_workers(
    target: Callable[[socket.socket, Any], None], payload: Any, *, host: str, port: int, n: int
) -> int:
    """Run ``target(sock, payload)`` in ``n`` spawned processes until SIGTERM/SIGINT."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    spawn = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[SpawnProcess, float]:
        process = spawn.Process(target=target, args=(sock, payload), daemon=False)
        process.start()
        return process, time.monotonic()

    def stop(signum: int, _frame: FrameType | None) -> None:
        # Each worker drains its own runs on the signal; the parent only waits for them.
        nonlocal stopping
        stopping = True
        for process, _ in workers:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)

    workers: list[tuple[SpawnProcess, float]] = []
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    for _ in range(n):
        if not stopping:
            workers.append(start())
    failed = 0
    try:
        while workers:
            for process, started in list(workers):
                process.join(0.2)
                if process.is_alive():
                    continue
                workers.remove((process, started))
                if stopping or process.exitcode == 0:
                    continue
                if time.monotonic() - started < _MIN_LIFETIME:
                    log.error("a worker exited with %s at start: not restarting", process.exitcode)
                    failed = 1
                    continue
                log.warning("worker exited with %s; starting another", process.exitcode)
                workers.append(start())
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
    return failed
