"""Custom events and node progress through the stages: in order with the text, masked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from tests.pipeline.test_holdback import EMAIL, Stops
from tokenwire.broker.base import EventLog
from tokenwire.broker.memory import MemoryBroker
from tokenwire.pipeline.budgets import BudgetStage, RunBudget
from tokenwire.pipeline.findings import Action, Finding
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.guardrails import GuardMode, Guardrails
from tokenwire.pipeline.inline_guards import InlineGuards
from tokenwire.pipeline.masking import Masking
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.pipeline.rules import DenyRule
from tokenwire.runs.recorder import RunRecorder
from tokenwire.usage.estimate import heuristic_tokens
from tokenwire.usage.pricing import PriceTable


class SlowClassifier:
    """An async guard: its scans run in the guard stage's worker, behind the text."""

    name = "slow"
    window = 8

    async def inspect(self, text: str, offset: int) -> Sequence[Finding]:
        await asyncio.sleep(0)
        return []


def _joined(log: EventLog) -> list[tuple[str, Any]]:
    """The log with consecutive tokens joined: ``[("token", "ab"), ("custom", data), ...]``."""
    out: list[tuple[str, Any]] = []
    for event in log._events:  # type: ignore[attr-defined]
        if event.type == "token" and out and out[-1][0] == "token":
            out[-1] = ("token", out[-1][1] + event.data["text"])
        elif event.type == "token":
            out.append(("token", event.data["text"]))
        elif event.type != "guardrail":
            out.append((event.type, event.data))
    return out


@pytest.mark.parametrize("mode", ["holdback", "stream_first"])
@pytest.mark.parametrize("guard", ["inline", "worker"])
async def test_events_keep_their_place_among_held_and_shown_text(
    mode: GuardMode, guard: str
) -> None:
    log = MemoryBroker().create("r")
    recorder = RunRecorder(log)
    if guard == "inline":
        guarded: InlineGuards | GuardWorker = InlineGuards(
            recorder, Guardrails(guards=(PiiGuard(),), mode=mode), Stops()
        )
    else:
        rails = Guardrails(guards=(PiiGuard(), SlowClassifier()), mode=mode)
        guarded = GuardWorker(recorder, rails, Stops())
    stage = BudgetStage(
        guarded,
        RunBudget(max_output_tokens=1000),
        Stops(),
        prices=PriceTable(),
        estimate=heuristic_tokens,
    )
    stage.token("Looking it up")  # held: a match could still grow into "up"
    stage.custom("progress", {"pct": 50})
    stage.node("start", "answer", 2)
    stage.token(" now. Done")
    stage.tool_start("c1", "lookup", {})
    stage.token(" here")
    stage.custom(None, [1])
    await stage.drain()

    assert _joined(log) == [
        ("token", "Looking it up"),
        ("custom", {"name": "progress", "data": {"pct": 50}}),
        ("node.start", {"name": "answer", "step": 2}),
        ("token", " now. Done"),
        ("tool.start", {"call_id": "c1", "name": "lookup", "args": {}}),
        ("token", " here"),
        ("custom", {"data": [1]}),
    ]


async def test_nothing_follows_a_block() -> None:
    log = MemoryBroker().create("r")
    rule = DenyRule("secret", keywords=["classified"], action=Action.BLOCK)
    stops = Stops()
    stage = InlineGuards(RunRecorder(log), Guardrails(guards=(rule,)), stops)
    stage.token("this is classified stuff")
    stage.custom("leak", {"more": "after the block"})
    await stage.drain()

    assert "custom" not in [e.type for e in log._events]  # type: ignore[attr-defined]
    assert len(stops) == 1


async def test_custom_data_name_and_error_are_masked_by_the_routes_policy() -> None:
    log = MemoryBroker().create("r")
    masking = Masking(PiiGuard())
    recorder = RunRecorder(log, mask_custom=masking.on_custom_events())
    recorder.custom(f"to {EMAIL}", {"mail": EMAIL, "phone": 4155550134, "n": 3})
    recorder.custom(None, None, f"failed for {EMAIL}")

    events = [e.data for e in log._events]  # type: ignore[attr-defined]
    assert EMAIL not in str(events)
    assert events == [
        {"name": "to [EMAIL]", "data": {"mail": "[EMAIL]", "phone": "[PHONE]", "n": 3}},
        {"data": None, "error": "failed for [EMAIL]"},
    ]


def test_custom_events_are_masked_with_the_output_or_the_tool_steps() -> None:
    assert Masking(PiiGuard(), frozenset({"output"})).on_custom_events() is not None
    assert Masking(PiiGuard(), frozenset({"tool_io"})).on_custom_events() is not None
    assert Masking(PiiGuard(), frozenset({"input"})).on_custom_events() is None


async def test_custom_data_is_made_plain_json_for_every_encoder() -> None:
    log = MemoryBroker().create("r")
    RunRecorder(log).custom("odd", {"big": 1 << 80, "text": "\ud800"})
    [event] = log._events  # type: ignore[attr-defined]
    assert event.data == {"name": "odd", "data": {"big": str(1 << 80), "text": "\\ud800"}}
