"""A replica killed with ``kill -9`` mid-stream, as it happens in production: three real
``tokenwire serve`` processes over the real Redis and one shared SQLite audit file. The
survivors both sweep; the dead replica's run gets exactly one ``run.end`` and exactly one
audit record."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.redis_client import sync_redis
from tokenwire.testing import SSE, free_port, iter_sse, wait_ready

CHAINS = """
import asyncio
from langchain_core.runnables import RunnableLambda

async def _count(n):
    for i in range(int(n)):
        await asyncio.sleep(0.02)
        yield f"t{i} "

count = RunnableLambda(_count)
"""

#: A dead replica is noticed within this (and swept within half of it again).
_TTL = 0.6

Replica = tuple[subprocess.Popen[bytes], str]


@pytest.fixture
def replicas(
    tmp_path: Path, redis_url: str, prefix: str
) -> Iterator[Callable[[int], list[Replica]]]:
    """``replicas(n)``: n ``tokenwire serve`` processes sharing Redis and the audit file."""
    (tmp_path / "chains.py").write_text(CHAINS)
    env = {
        **os.environ,
        "TOKENWIRE_DATA_DIR": str(tmp_path),
        "TOKENWIRE_REDIS_URL": redis_url,
        "TOKENWIRE_REDIS_PREFIX": prefix,
        "TOKENWIRE_REPLICA_TTL_SECONDS": str(_TTL),
        "TOKENWIRE_AUDIT_URL": f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}",
    }
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(n: int) -> list[Replica]:
        launched = []
        for _ in range(n):  # all at once: starting is most of this test's time
            port = free_port()
            log = tmp_path / f"serve-{port}.log"
            with log.open("wb") as out:
                command = ["serve", "chains.py:count", "--no-auth", "--mode", "tokens"]
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tokenwire", *command, "--port", str(port)],
                    cwd=tmp_path,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            started.append((proc, log))
            launched.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, url, log in launched:
            wait_ready(url, proc, log)
        return [(proc, url) for proc, url, _ in launched]

    yield start
    for proc, log in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if proc.wait(timeout=30) not in (0, -signal.SIGTERM):
                print(log.read_text())


def _records_of(url: str, run_id: str) -> list[dict[str, Any]]:
    records = httpx.get(f"{url}/v1/audit/records", params={"limit": 1000}).json()["records"]
    return [r for r in records if r["run_id"] == run_id]


def _mirrored_up_to(redis_url: str, prefix: str, run_id: str, seq: int) -> None:
    """Wait until Redis holds the run's events up to ``seq``. What a client received in
    the last moment before a crash (one flush, a few ms) may never reach Redis, and so is
    not part of the run's end; this test kills the replica after what the client saw."""
    client = sync_redis(redis_url)
    deadline = time.monotonic() + 5
    while True:
        last = client.xrevrange(f"{prefix}:log:{run_id}", count=1)
        if last and int(last[0][0].partition(b"-")[0]) >= seq:
            return
        assert time.monotonic() < deadline, "the run's events never reached Redis"
        time.sleep(0.01)


def test_a_killed_replicas_run_ends_once_and_is_audited_once(
    replicas: Callable[[int], list[Replica]], redis_url: str, prefix: str
) -> None:
    (doomed, a), (_, b), (_, c) = replicas(3)
    headers = {"Accept": "text/event-stream"}
    for url in (a, b, c):
        # A replica's first run imports and warms up what runs need, holding its event loop
        # — and so its heartbeat — longer than this test's short TTL on a loaded machine:
        # the survivors would then rightly end a run whose replica merely looked dead.
        warmup = {"input": 2}
        with httpx.stream("POST", f"{url}/v1/routes/count/runs", json=warmup, headers=headers) as r:
            assert list(iter_sse(r))[-1].event == "run.end"
    seen: list[SSE] = []
    headers = {"Accept": "text/event-stream"}
    body = {"input": 2000, "on_disconnect": "continue"}
    with httpx.stream("POST", f"{a}/v1/routes/count/runs", json=body, headers=headers) as r:
        for event in iter_sse(r):
            seen.append(event)
            if sum(e.event == "token" for e in seen) == 5:
                break
        _mirrored_up_to(redis_url, prefix, seen[0].data["run_id"], seen[-1].id or 0)
        doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL
    run_id, cursor = seen[0].data["run_id"], seen[-1].id
    assert cursor is not None
    # The client rejoins on a survivor from its last event and sees the run end, once.
    with httpx.stream(
        "GET", f"{b}/v1/runs/{run_id}/stream", headers={"Last-Event-ID": str(cursor)}, timeout=30
    ) as r:
        assert r.status_code == 200
        rest = list(iter_sse(r))
    assert [e.event for e in rest].count("run.end") == 1 and rest[-1].event == "run.end"
    assert [e.id for e in rest] == list(range(cursor + 1, cursor + 1 + len(rest)))
    error, end = rest[-2:]
    assert error.event == "error" and error.data["code"] == "incomplete_stream"
    assert end.data["status"] == "failed"
    delivered = "".join(e.data["text"] for e in seen + rest if e.event == "token")
    assert end.data["output"] == delivered
    # Exactly one audit record, whichever survivor swept it, with what is known of the run.
    deadline = time.monotonic() + 15
    while not (records := _records_of(b, run_id)):
        assert time.monotonic() < deadline, "the dead replica's run was never audited"
        time.sleep(0.05)
    # Both survivors sweep every TTL/2: give the loser a few sweeps to record it twice.
    time.sleep(4 * _TTL)
    records = _records_of(c, run_id)
    assert len(records) == 1, records
    (record,) = records
    assert record["status"] == "failed" and record["error"]["code"] == "incomplete_stream"
    assert record["route"] == "count" and record["key_alias"] == "anonymous"
    assert record["trace_id"] == seen[0].data["trace_id"]
    assert record["input"] == 2000
    assert record["output"] == delivered
    assert record["created_at"] <= record["ended_at"]
    # ...and it is counted in metrics by the survivor that ended it: the dead replica can
    # no longer count it, and the incomplete_stream alert reads this counter.
    # (At least once: with this test's 0.6 s TTL a loaded machine can make a warming-up
    # replica look dead for a moment, and the survivors rightly end and count its run too.)
    assert sum(_incomplete_streams(url) for url in (b, c)) >= 1


def _incomplete_streams(url: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tokenwire_errors_total"
        and sample.labels.get("error_type") == "incomplete_stream"
        and sample.labels.get("route") == "count"
    )
