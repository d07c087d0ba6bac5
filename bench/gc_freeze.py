"""What ``gc_freeze`` buys: the collector's full pass, and streams under load, with and without.

- *pause*: in a fresh interpreter that built the benchmark's tokenwire app (imports, routes,
  models), how long one full ``gc.collect()`` takes before and after
  ``freeze_startup_heap()`` — how long the event loop stops whenever CPython decides on a
  full pass while streams are open;
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
import gc, json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
from bench.servers import _tokenwire_app
from tokenwire.runtime import freeze_startup_heap

app = _tokenwire_app()

def pauses():
    found = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        found.append(time.perf_counter() - started)
    return statistics.median(found) * 1e3

tracked, before = len(gc.get_objects()), pauses()
frozen = freeze_startup_heap()
print(json.dumps({"tracked": tracked, "before_ms": before, "frozen": frozen,
                  "after_tracked": len(gc.get_objects()), "after_ms": pauses()}))
"""


def pause() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data:
        done = subprocess.run(
            [sys.executable, "-c", _PAUSE, str(_ROOT)],
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
    return f"""## Garbage collection: `gc_freeze`

A full pass of CPython's cyclic collector walks every container object and stops the event
loop meanwhile. In a fresh interpreter holding the benchmark's tokenwire app, one full
`gc.collect()` walked {p["tracked"]:,} objects in {p["before_ms"]:.1f} ms (median of 5); after
`freeze_startup_heap()` (what `gc_freeze`, on by default, does when the gateway starts) it
walks {p["after_tracked"]:,} in {p["after_ms"]:.2f} ms. CPython runs a full pass on its own
whenever enough new objects have survived, so without the freeze a busy gateway stops every
open stream for that long now and then.

Fresh tokenwire servers with `gc_freeze` off and on, alternating {len(r["ab"]["runs"]["on"])}
times (medians): K={LOAD} concurrent 50-token/s streams (provider-like pacing), stretch median
/ p99, and the TTFT p50 at low load.

| `gc_freeze` | K={LOAD} stretch | TTFT p50 |
|---|---|---|
| off | {off["median"]:.2f} / {off["p99"]:.2f} | {off["ttft_p50_ms"]:.2f} ms |
| on | {on["median"]:.2f} / {on["p99"]:.2f} | {on["ttft_p50_ms"]:.2f} ms |
"""
