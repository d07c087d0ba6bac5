"""What each stage of a run's chain costs per token, in process.

Four chains, built as :func:`tokenwire.runs.launch.run_stages` builds them, are fed the same
20,000 five-character tokens (clean prose: nothing to redact, a budget never spent):
the recorder alone, ``budget → recorder``, ``budget → InlineGuards → recorder`` and
``budget → GuardWorker → recorder``, both guard forms with the same ``PiiGuard`` (a route
gets the worker only with an async guard; here it runs the PII guard, so the two forms
differ only in where the checks run). Two paces: *burst* (no yield between tokens) and *one
at a time* (``asyncio.sleep(0)`` after every token, as a model reading the network does).
The time includes ``drain``. The chains take turns within each repeat, so all four are
measured side by side under the same load; best of the repeats, reported as a ratio to the
recorder alone at the same pace.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from bench.fake_model import WORD
from bench.run_control import NoStop
from tokenwire.broker.memory import MemoryBroker
from tokenwire.pipeline.budgets import BudgetStage, RunBudget
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.inline_guards import InlineGuards
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.pipeline.stage import Stage
from tokenwire.runs.recorder import RunRecorder
from tokenwire.usage.estimate import heuristic_tokens
from tokenwire.usage.pricing import PriceTable

TOKENS = 20_000
REPEATS = 7
PACES = ("burst", "paced")

_PII = Guardrails(guards=(PiiGuard(),))
_PRICES = PriceTable()
_BUDGET = RunBudget(max_output_tokens=10 * TOKENS)


def _budget(next: Stage) -> Stage:
    return BudgetStage(next, _BUDGET, NoStop(), prices=_PRICES, estimate=heuristic_tokens)


#: The chains, each built in front of a fresh recorder: (name, build).
CHAINS: tuple[tuple[str, Callable[[RunRecorder], Stage]], ...] = (
    ("recorder", lambda recorder: recorder),
    ("budget", _budget),
    ("inline", lambda recorder: _budget(InlineGuards(recorder, _PII, NoStop()))),
    ("worker", lambda recorder: _budget(GuardWorker(recorder, _PII, NoStop()))),
)
LABELS = {
    "recorder": "`RunRecorder` alone",
    "budget": "budget → recorder",
    "inline": "budget → `InlineGuards` → recorder",
    "worker": "budget → `GuardWorker` → recorder",
}


async def _once(build: Callable[[RunRecorder], Stage], paced: bool) -> tuple[float, int]:
    """Microseconds per token through one fresh chain, ``drain`` included, and the token
    events it appended."""
    recorder = RunRecorder(MemoryBroker(max_events_per_run=10 * TOKENS).create("bench"))
    head = build(recorder)
    token = head.token
    gc.collect()
    start = time.perf_counter()
    for _ in range(TOKENS):
        token(WORD)
        if paced:
            await asyncio.sleep(0)
    await head.drain()
    elapsed = time.perf_counter() - start
    head.cancel()
    return elapsed / TOKENS * 1e6, recorder.token_events


async def _measure() -> dict[str, Any]:
    best: dict[str, dict[str, float]] = {pace: {} for pace in PACES}
    events: dict[str, dict[str, int]] = {pace: {} for pace in PACES}
    for _ in range(REPEATS):
        for pace in PACES:
            for name, build in CHAINS:
                us, events[pace][name] = await _once(build, pace == "paced")
                best[pace][name] = min(us, best[pace].get(name, us))
    return {"tokens": TOKENS, "repeats": REPEATS, "us_per_token": best, "events": events}


def run() -> dict[str, Any]:
    return asyncio.run(_measure())


def report(r: dict[str, Any]) -> str:
    us, events = r["us_per_token"], r["events"]
    rows = []
    for name, _ in CHAINS:
        cells = [
            f"{us[p][name]:.2f} us | **{us[p][name] / us[p]['recorder']:.2f}x** "
            f"| {events[p][name]:,}"
            for p in PACES
        ]
        rows.append(f"| {LABELS[name]} | {' | '.join(cells)} |")
    table = "\n".join(rows)
    return f"""## Stages: per-token cost of the chain (in process)

The chain `run_stages` builds, fed {r["tokens"]:,} five-character tokens of clean prose
(nothing redacted, the budget never spent), `drain` included; both guard forms run the same
`PiiGuard`, so they differ only in where the checks run (on the token path, or in a worker
task). *One at a time* yields to the loop after every token (as a model reading the network
does), and its rows include the `asyncio.sleep(0)` itself. The four chains take turns within
each of {r["repeats"]} repeats (best kept): the ratios are to the recorder alone measured side
by side, at the same pace. *Events* counts the `token` events the chain appended: the
guards release what they cleared together, so in a burst the whole answer goes out in a few
events, which is why a guarded burst costs less than the recorder's one event per token.

| chain | burst | vs recorder | events | one at a time | vs recorder | events |
|---|---|---|---|---|---|---|
{table}
"""
