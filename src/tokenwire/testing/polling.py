"""Waiting, boundedly, for something a live server or the mock provider will report.

Tests never sleep "long enough": they poll with a deadline and fail with what they saw.

>>> snapshot = wait_for_status(client, run_id, "completed")
>>> record = mock_record(mock_url, lambda r: r["model"] == "mock")
>>> port = poll_until(lambda: server.port or None, timeout=5, message="no port")
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

__all__ = ["mock_record", "poll_until", "wait_for_status", "wait_ready"]

T = TypeVar("T")


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float = 5.0,
    interval: float = 0.01,
    message: str | Callable[[], str] = "the condition never held",
) -> T:
    """The first result of ``probe()`` that is not ``None`` (nor ``False``), calling it every
    ``interval`` seconds for at most ``timeout``; else an ``AssertionError`` with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)


def mock_record(mock_url: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first request in the mock provider's ledger matching ``predicate`` (polls 5 s)."""

    def probe() -> dict[str, Any] | None:
        records = httpx.get(f"{mock_url}/mock/requests").json()
        return next((dict(r) for r in records if predicate(r)), None)

    return poll_until(probe, message="the mock provider never saw that")


def wait_for_status(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    """The run's snapshot once it has ``status`` (polls 10 s)."""
    seen: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        seen.update(client.get(f"/v1/runs/{run_id}").json())
        return dict(seen) if seen["status"] == status else None

    return poll_until(
        probe,
        timeout=10,
        interval=0.02,
        message=lambda: f"run {run_id} is {seen.get('status')}, not {status}",
    )


def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0
) -> None:
    """Until ``{url}/readyz`` answers 200; fails with the log if ``process`` exits first."""

    def probe() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/readyz").status_code == 200
        except httpx.TransportError:
            return False

    poll_until(probe, timeout=timeout, interval=0.1, message="tokenwire did not start")
