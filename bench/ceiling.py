"""The ceiling of the concurrency ladder: the model alone, no server, no client.

``python -m bench.ceiling 25,50,100`` runs the ladder's provider-paced streams (100 tokens,
token n due at 20·n ms) straight off ``WordStreamModel.astream`` in one fresh process on
uvloop, all K at once, and prints one JSON line per rung (each stream's duration, the
process's CPU). No HTTP, no gateway, and the
client's core is free: no server in one process on this machine can keep more streams
within the ladder's bar than this row does, whatever it does per token, because every server
runs this same loop of LangChain chunks and timer wake-ups underneath.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvloop

from bench.fake_model import WordStreamModel, prompt, reply

ROW = "model alone (in process)"


async def _one(model: WordStreamModel, text: str) -> tuple[float, str]:
    start = time.perf_counter()
    parts = [str(chunk.content) async for chunk in model.astream(text)]
    return time.perf_counter() - start, "".join(parts)


async def _rung(model: WordStreamModel, k: int, tokens: int, delay: float) -> dict[str, Any]:
    text = prompt(tokens, delay, pace="deadline")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = await asyncio.gather(*(_one(model, text) for _ in range(k)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "k": k,
        "durations": [duration for duration, _ in done],
        "failed": sum(1 for _, got in done if got != reply(tokens)),
        "cpu_share": cpu / wall,
        "cpu_us_per_token": cpu / (k * tokens) * 1e6,
    }


async def _ladder(ks: list[int], tokens: int, delay: float) -> None:
    model = WordStreamModel()
    await _rung(model, 10, 10, delay)  # first-use imports and caches
    for k in ks:
        print(json.dumps(await _rung(model, k, tokens, delay)), flush=True)


def measure(ks: Sequence[int], tokens: int, delay: float) -> list[dict[str, Any]]:
    """Each rung, in a fresh process (``python -m bench.ceiling``)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.ceiling", ",".join(map(str, ks)), str(tokens), str(delay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


if __name__ == "__main__":
    rungs = [int(k) for k in sys.argv[1].split(",")]
    uvloop.run(_ladder(rungs, int(sys.argv[2]), float(sys.argv[3])))
