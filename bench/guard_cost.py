"""What the PII guard adds per token, in process: ``GuardStage`` in front of the recorder.

Two paces: *burst* (2,000 tokens handed over at once, scanned in one pass when the
producer yields) and *one at a time* (the producer yields to the loop after every token, as a
model reading from the network does, so the scan callback runs per token). Each is
compared with the recorder alone under the same pace; best of 5.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.fake_model import WORD
from tokenwire.broker.memory import MemoryBroker
from tokenwire.events import ErrorCode, RunStatus
from tokenwire.pipeline.guard_stage import GuardStage
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.runs.recorder import RunRecorder

TOKENS = 2_000
REPEATS = 5


class _Unstoppable:
    """The run's control: the bench's text never trips the guard, so nothing stops it."""

    stopped = False

    def stop(self, status: RunStatus, code: ErrorCode, message: str) -> bool:
        return False


async def _once(guarded: bool, yielding: bool) -> float:
    log = MemoryBroker(max_events_per_run=10 * TOKENS).create("bench")
    recorder = RunRecorder(log)
    sink: Any = GuardStage(recorder, [PiiGuard()], _Unstoppable()) if guarded else recorder
    token = sink.token
    start = time.perf_counter()
    for _ in range(TOKENS):
        token(WORD)
        if yielding:
            await asyncio.sleep(0)
    if guarded:
        await sink.drain()
    return (time.perf_counter() - start) / TOKENS * 1e6


async def _measure() -> dict[str, float]:
    results = {}
    for yielding in (False, True):
        for guarded in (False, True):
            best = min([await _once(guarded, yielding) for _ in range(REPEATS)])
            results[f"{'paced' if yielding else 'burst'}_{'guard' if guarded else 'plain'}"] = best
    return results


def run() -> dict[str, float]:
    return asyncio.run(_measure())


def report(r: dict[str, float]) -> str:
    burst = r["burst_guard"] - r["burst_plain"]
    paced = r["paced_guard"] - r["paced_plain"]
    return f"""## Guardrails: per-token cost of the PII guard (in process)

`GuardStage` with `PiiGuard` (hold-back up to 120 characters) in front of `RunRecorder`, against
the recorder alone; {TOKENS:,} five-character tokens, best of {REPEATS}. *One at a time*
yields to the loop after every token (as a model reading the network does), so the guard's
scan callback runs per token; those rows include the `asyncio.sleep(0)` itself.

| pace | recorder alone | with the PII guard | guard adds |
|---|---|---|---|
| burst | {r["burst_plain"]:.2f} us | {r["burst_guard"]:.2f} us | {burst:.2f} us |
| one at a time | {r["paced_plain"]:.2f} us | {r["paced_guard"]:.2f} us | {paced:.2f} us |
"""
