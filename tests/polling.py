"""Waiting, boundedly, for something a live server or the mock provider will report."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def mock_record(mock_url: str, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first request in the mock provider's ledger matching ``predicate`` (polls 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for record in httpx.get(f"{mock_url}/mock/requests").json():
            if predicate(record):
                return dict(record)
        time.sleep(0.01)
    raise AssertionError("the mock provider never saw that")


def wait_for_status(client: httpx.Client, run_id: str, status: str) -> dict[str, Any]:
    """The run's snapshot once it has ``status`` (polls 10 s)."""
    deadline = time.monotonic() + 10
    snapshot: dict[str, Any] = {}
    while time.monotonic() < deadline:
        snapshot = client.get(f"/v1/runs/{run_id}").json()
        if snapshot["status"] == status:
            return snapshot
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} is {snapshot.get('status')}, not {status}")
