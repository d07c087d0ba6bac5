"""What ``gc_freeze`` buys: the collector's full pass, and streams under load, with and without.

- *pause*: in a fresh interpreter that built the benchmark's tokenwire app (imports, routes,
  models), how long one full ``gc.collect()`` takes — how long the event loop stops
  whenever CPython decides on a full pass while streams are open: at start-up, then with
  :data:`RETAINED_RUNS` finished runs kept, with and without the start-up heap frozen;
- *A/B*: fresh tokenwire servers with ``gc_freeze`` off and on, alternating
  :data:`ROUNDS` times: the concurrency ladder's K=:data:`LOAD` rung (provider-like pacing)
  and the TTFT at low load, median of the rounds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvloop

from bench.clients import Target
from bench.servers import GC_FREEZE_ENV, ServerProcess
from bench.streaming import _ladder_step, ttft

ROUNDS = 2
LOAD = 200
_ROOT = Path(__file__).resolve().parent.parent

_PAUSE = """
import asyncio, gc, json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from bench.fake_model import prompt
from bench.servers import _tokenwire_app
from tokenwire.runtime import freeze_startup_heap

RUNS, TOKENS = int(sys.argv[2]), int(sys.argv[3])
app = _tokenwire_app()
gateway = app.state.gateway

def pause():
    found = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        found.append(time.perf_counter() - started)
    return statistics.median(found) * 1e3

async def retain():
    for _ in range(RUNS):  # one event per token: the unguarded route
        run, _ = await gateway.start_run("plain", prompt(TOKENS))
        await run.task

result = {"tracked": len(gc.get_objects()), "before_ms": pause()}
result["frozen"] = freeze_startup_heap()  # as a starting gateway does
asyncio.run(retain())
result.update(after_tracked=len(gc.get_objects()), after_ms=pause())
gc.unfreeze()  # the same heap as it would be without gc_freeze
result.update(retained_tracked=len(gc.get_objects()), retained_ms=pause())
print(json.dumps(result))
"""

#: Finished runs kept (as ``retention_seconds`` keeps them) before the last measurement.
RETAINED_RUNS = 1_000
RETAINED_TOKENS = 200


def pause() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        done = subprocess.run(
            [sys.executable, "-c", _PAUSE, str(_ROOT), str(RETAINED_RUNS), str(RETAINED_TOKENS)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "BENCH_DATA_DIR": data},
            check=True,
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def _round(freeze: bool, data_dir: str) -> dict[str, float]:
    env = {GC_FREEZE_ENV: "1" if freeze else "0", "BENCH_DATA_DIR": data_dir}
    with ServerProcess("tokenwire", env) as server:
        target = Target.of("tokenwire", server.port)
        first = await ttft(server)
        step = await _ladder_step(server, target, LOAD, "deadline")
    return {"ttft_p50_ms": first["p50_ms"], "median": step["median"], "p99": step["p99"]}


def ab() -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as data:
        for _ in range(ROUNDS):
            for name, freeze in (("off", False), ("on", True)):
                runs[name].append(uvloop.run(_round(freeze, data)))
    summary = {
        name: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for name, rounds in runs.items()
    }
    return {"summary": summary, "runs": runs}


def run() -> dict[str, Any]:
    return {"pause": pause(), "ab": ab()}


def report(r: dict[str, Any]) -> str:
    p, s = r["pause"], r["ab"]["summary"]
    off, on = s["off"], s["on"]
    per_run = p["after_tracked"] / RETAINED_RUNS
    retained = f"and {RETAINED_RUNS:,} finished {RETAINED_TOKENS}-token runs retained"
    frozen = "the same, start-up heap frozen (`gc_freeze`, as `tokenwire serve` runs)"
    heaps = [
        ("after start-up (LangChain, pydantic, FastAPI, the routes)", "tracked", "before_ms"),
        (retained, "retained_tracked", "retained_ms"),
        (frozen, "after_tracked", "after_ms"),
    ]
    rows = "\n".join(f"| {name} | {p[n]:,} | {p[ms]:.1f} ms |" for name, n, ms in heaps)
    return f"""## Garbage collection: `gc_freeze` and retained runs

A full pass of CPython's cyclic collector walks every container object while the event loop
stands still, and CPython starts one on its own whenever enough new objects survived. In a
fresh interpreter holding the benchmark's tokenwire app (median of 5 `gc.collect()`):

| heap | objects walked | full pass |
|---|---|---|
{rows}

A retained run adds {per_run:.0f} objects to every pass, however long it was: a closed log
keeps its text events as tuples of plain values, which CPython stops tracking (as `Event`
objects it was one object per event: 10,000 retained 500-token runs would be 5 million objects, a
pass of seconds).

Fresh tokenwire servers with `gc_freeze` off and on, alternating {len(r["ab"]["runs"]["on"])}
times (medians): K={LOAD} concurrent 50-token/s streams (provider-like pacing), stretch median
/ p99, and the TTFT p50 at low load. A rung this short rarely contains a full pass, so this
shows mostly that freezing costs nothing while streaming; the pause above is what it saves.

| `gc_freeze` | K={LOAD} stretch | TTFT p50 |
|---|---|---|
| off | {off["median"]:.2f} / {off["p99"]:.2f} | {off["ttft_p50_ms"]:.2f} ms |
| on | {on["median"]:.2f} / {on["p99"]:.2f} | {on["ttft_p50_ms"]:.2f} ms |
"""
