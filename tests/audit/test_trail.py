"""The writer: never loses a record to a database hiccup, drains on close, and drops (and
counts) only when its bounded queue is full."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tokenwire.audit import AuditStore, AuditTrail, verify
from tokenwire.broker.memory import MemoryEventLog
from tokenwire.events import EventType, RunStatus
from tokenwire.runs.execution import end_run
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run


def finished_run(run_id: str, text: str = "hello") -> Run:
    log = MemoryEventLog(run_id, 100)
    run = Run(run_id, "chat", log, "cancel", 0, "t" * 32)
    run.recorder = RunRecorder(log)
    log.append(EventType.RUN_START, {"run_id": run_id, "route": "chat", "model": "m"})
    run.recorder.token(text)
    end_run(run, run.recorder, RunStatus.COMPLETED, text, None)
    return run


class FlakyStore(AuditStore):
    """Fails its first ``failures`` appends, as a restarting database would."""

    failures = 1

    async def append(self, entries: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database restarting")
        return await super().append(entries)


def _url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"


async def test_a_failed_append_is_retried_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    trail = AuditTrail(FlakyStore(_url(tmp_path)))
    await trail.start()
    trail.submit(finished_run("r1"), "hi")
    await trail.flush()
    records = await trail.store.page()
    assert [r["run_id"] for r in records] == ["r1"]
    assert trail.dropped == 0 and "retrying" in caplog.text
    assert (await verify(trail.store)).ok
    await trail.aclose()


async def test_close_drains_what_was_submitted(tmp_path: Path) -> None:
    trail = AuditTrail(AuditStore(_url(tmp_path)))
    await trail.start()
    for n in range(5):
        trail.submit(finished_run(f"r{n}"), n)
    await trail.aclose()  # no flush first: closing must not lose them
    store = AuditStore(_url(tmp_path))
    assert [r["run_id"] for r in await store.page()] == [f"r{n}" for n in range(5)]
    assert trail.dropped == 0
    await store.aclose()


async def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    trail = AuditTrail(AuditStore(_url(tmp_path)), max_queue=2)
    for n in range(5):  # synchronously, as done-callbacks would: the writer cannot run yet
        trail.submit(finished_run(f"r{n}"), n)
    assert trail.dropped == 3
    await trail.aclose()
    assert trail.written == 2


class CountingStore(AuditStore):
    appends = 0

    async def append(self, entries: Any) -> Any:
        self.appends += 1
        return await super().append(entries)


async def test_runs_ending_close_together_share_one_append(tmp_path: Path) -> None:
    store = CountingStore(_url(tmp_path))
    trail = AuditTrail(store, batch_delay=0.2)
    await trail.start()
    for n in range(3):
        trail.submit(finished_run(f"r{n}"), n)
        await asyncio.sleep(0.01)  # the writer is already gathering the batch
    await asyncio.sleep(0.4)
    assert store.appends == 1 and trail.written == 3
    await trail.aclose()


async def test_flush_does_not_wait_out_the_batch_delay(tmp_path: Path) -> None:
    trail = AuditTrail(AuditStore(_url(tmp_path)), batch_delay=60)
    await trail.start()
    trail.submit(finished_run("r1"), "hi")
    await asyncio.sleep(0.01)  # the writer waits for more runs
    await asyncio.wait_for(trail.flush(), 10)
    assert [r["run_id"] for r in await trail.store.page()] == ["r1"]
    trail.submit(finished_run("r2"), "hi")
    await asyncio.wait_for(trail.aclose(), 10)  # closing drains without the delay too
    assert trail.written == 2 and trail.dropped == 0


async def test_the_writer_keeps_no_run_once_its_record_is_written(tmp_path: Path) -> None:
    """Waiting for the next run, the writer must not still hold the last batch: each run
    is its whole event log, and an idle gateway would keep it past its retention."""
    import gc
    import weakref

    trail = AuditTrail(AuditStore(_url(tmp_path)))
    await trail.start()
    run = finished_run("r1", "a long answer " * 100)
    gone = weakref.ref(run)
    trail.submit(run, "hi")
    await trail.flush()
    del run
    gc.collect()
    assert gone() is None
    await trail.aclose()
