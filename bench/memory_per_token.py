"""RSS per token on the realistic path: ``ChatOpenAI`` against the mock provider, served by
tokenwire (route ``openai``: guard, telemetry, audit, event log on) and by the bare
Starlette loop over the same model (``/stream-openai``), each in its own process.

Rounds of ``STREAMS`` concurrent 2,000-token streams; RSS is read from ``/proc`` before,
after the rounds (tokenwire still retains every run: its log is the point of a gateway)
and once tokenwire's retention has expired and its sweeper has forgotten the runs.
In ``make bench`` as ``token_memory`` (``python -m bench --only token_memory``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from bench.clients import Target, stream_once
from bench.servers import OPENAI_MODEL, ServerProcess

STREAMS = 20
ROUNDS = 5
TOKENS = int(OPENAI_MODEL.rsplit("=", 1)[1])
#: tokenwire's retention for this scenario, and how long to wait past it for the sweeper.
RETENTION_SECONDS = 5.0
_SWEPT_AFTER = RETENTION_SECONDS + 5.0


async def _rounds(target: Target, rounds: int) -> int:
    ok = 0
    for _ in range(rounds):
        streams = await asyncio.gather(*(stream_once(target, "hi") for _ in range(STREAMS)))
        ok += sum(1 for s in streams if s.status == 200 and s.error is None)
    return ok


async def measure(server: ServerProcess, target: Target, *, expires: bool) -> dict[str, Any]:
    await _rounds(target, 1)  # first-use allocations: pools, caches, imports
    base = server.rss_bytes()
    ok = await _rounds(target, ROUNDS)
    live = server.rss_bytes()
    tokens = ROUNDS * STREAMS * TOKENS
    result: dict[str, Any] = {
        "streams_ok": ok,
        "tokens": tokens,
        "base_mb": base / 1e6,
        "after_mb": live / 1e6,
        "bytes_per_token": (live - base) / tokens,
    }
    if expires:
        await asyncio.sleep(_SWEPT_AFTER)
        expired = server.rss_bytes()
        result["expired_mb"] = expired / 1e6
        result["expired_growth"] = (expired - base) / base
    return result


def run() -> dict[str, Any]:
    return asyncio.run(_measure_both())


async def _measure_both() -> dict[str, Any]:
    with ServerProcess("mock") as mock:
        env = {"BENCH_MOCK_URL": f"http://127.0.0.1:{mock.port}"}
        with ServerProcess("bare", env) as bare:
            target = Target("bare", bare.port, "/stream-openai", b"data: ")
            bare_figures = await measure(bare, target, expires=False)
        retention = {"TOKENWIRE_RETENTION_SECONDS": str(RETENTION_SECONDS)}
        with ServerProcess("tokenwire", {**env, **retention}) as tokenwire:
            target = Target.of("tokenwire", tokenwire.port, "openai")
            tokenwire_figures = await measure(tokenwire, target, expires=True)
    ratio = tokenwire_figures["bytes_per_token"] / max(bare_figures["bytes_per_token"], 1.0)
    return {"bare": bare_figures, "tokenwire": tokenwire_figures, "ratio": ratio}


def report(results: dict[str, Any]) -> str:
    bare, tokenwire = results["bare"], results["tokenwire"]
    return "\n".join(
        [
            "## Memory per token on the realistic path (issue #22)\n",
            f"`ChatOpenAI` against the mock provider, {ROUNDS} rounds of {STREAMS} concurrent "
            f"{TOKENS:,}-token streams ({tokenwire['tokens']:,} tokens), each server in its own "
            "process; RSS growth after a warm-up round. tokenwire still retains every run "
            f"when measured; its retention is then {RETENTION_SECONDS:g} s.\n",
            "| server | RSS before | after | per token | after retention |",
            "|---|---:|---:|---:|---:|",
            f"| bare loop | {bare['base_mb']:.1f} MB | {bare['after_mb']:.1f} MB | "
            f"{bare['bytes_per_token']:.0f} B | — |",
            f"| tokenwire | {tokenwire['base_mb']:.1f} MB | {tokenwire['after_mb']:.1f} MB | "
            f"{tokenwire['bytes_per_token']:.0f} B | {tokenwire['expired_mb']:.1f} MB "
            f"({tokenwire['expired_growth']:+.1%} of its start) |",
            f"\nPer token, tokenwire ÷ bare loop: **{results['ratio']:.2f}x** (target ≤ 1.1x); "
            "RSS back within 10 % of its start once runs expire (target).\n",
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    json.dump(run(), sys.stdout, indent=2)
    print()
