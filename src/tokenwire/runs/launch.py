"""Setting a run going: its budget and the stages its output passes through.

The pieces the gateway's launcher (``tokenwire.gateway.launcher``) assembles into a run's
task, kept here, below the gateway, with the run they set going.
"""

from __future__ import annotations

import dataclasses

from tokenwire.events import EventType, RunStatus
from tokenwire.langchain.adapter import model_name
from tokenwire.pipeline.budgets import BudgetStage, RunBudget
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.inline_guards import InlineGuards
from tokenwire.pipeline.stage import Stage
from tokenwire.routes import Route
from tokenwire.runs.execution import end_run
from tokenwire.runs.failures import START_FAILED
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run
from tokenwire.usage.estimate import Estimator
from tokenwire.usage.pricing import PriceTable

__all__ = ["end_unstarted", "priced", "route_budget", "run_stages"]


def route_budget(route: Route) -> RunBudget | None:
    """The route's budget, priced at the route's model when it has one."""
    return priced(route.budget, route)


def priced(budget: RunBudget | None, route: Route) -> RunBudget | None:
    if budget is None or budget.model is not None:
        return budget
    return dataclasses.replace(budget, model=model_name(route.runnable))


def run_stages(
    run: Run,
    route: Route,
    recorder: RunRecorder,
    budget: RunBudget | None,
    *,
    prices: PriceTable,
    estimate: Estimator,
) -> Stage:
    """The head of the run's chain ``budget → guards → recorder`` (the stages the route
    needs): the budget counts the model's output before any guard holds it back.

    The one place the guards' form is chosen: on the token path when every guard is
    synchronous, in a worker task when one must be awaited."""
    head: Stage = recorder
    rails = route.guardrails
    if rails is not None and rails.guards:
        form = InlineGuards if rails.synchronous else GuardWorker
        # Stalls are judged where the model's deltas arrive, before the guards hold any.
        head = form(head, rails, run, on_arrival=recorder.provider_token)
    if budget is not None:
        head = BudgetStage(head, budget, run, prices=prices, estimate=estimate)
    return head


async def end_unstarted(run: Run, recorder: RunRecorder) -> None:
    """The task of a run whose set-up failed: its opening event, if missing, then its end."""
    if run.log.last_seq == 0:
        start = {
            "run_id": run.id,
            "route": run.route,
            "trace_id": run.trace_id,
            "cohort": run.cohort,
            "variant": run.variant,
        }
        run.log.append(EventType.RUN_START, start)
    end_run(run, recorder, RunStatus.FAILED, None, START_FAILED)
