"""``run_stages``: the chain ``budget → guards → recorder`` a route's configuration asks for,
with the guards' form chosen there, once."""

from __future__ import annotations

import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.broker.memory import MemoryBroker
from tokenwire.pipeline.budgets import BudgetStage, RunBudget
from tokenwire.pipeline.findings import Finding, Guard
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.inline_guards import InlineGuards
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.pipeline.stage import Stage
from tokenwire.routes import Route
from tokenwire.runs.launch import run_stages
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run
from tokenwire.usage.estimate import heuristic_tokens
from tokenwire.usage.pricing import PriceTable


class _Classifier:
    name = "classifier"
    window = 4

    async def inspect(self, text: str, offset: int) -> list[Finding]:
        return []


def _head(rails: Guardrails | None, budget: RunBudget | None = None) -> tuple[Stage, RunRecorder]:
    log = MemoryBroker().create("r1")
    run = Run("r1", "chat", log, "cancel", 0, "t" * 32)
    recorder = RunRecorder(log)
    route = Route("chat", RunnableLambda(lambda x: x), guardrails=rails)
    head = run_stages(run, route, recorder, budget, prices=PriceTable(), estimate=heuristic_tokens)
    return head, recorder


@pytest.mark.parametrize(
    ("guards", "form"),
    [((PiiGuard(),), InlineGuards), ((PiiGuard(), _Classifier()), GuardWorker)],
    ids=["synchronous", "one-async"],
)
def test_the_guards_form_follows_the_guardrails(guards: tuple[Guard, ...], form: type) -> None:
    head, _ = _head(Guardrails(guards=guards))
    assert type(head) is form


def test_the_budget_counts_before_the_guards() -> None:
    head, recorder = _head(Guardrails(guards=(PiiGuard(),)), RunBudget(max_output_tokens=5))
    assert type(head) is BudgetStage
    assert type(head._next) is InlineGuards
    assert head._next._next is recorder


@pytest.mark.parametrize("rails", [None, Guardrails()], ids=["none", "no-guards"])
def test_without_guards_the_recorder_is_the_head(rails: Guardrails | None) -> None:
    head, recorder = _head(rails)
    assert head is recorder
