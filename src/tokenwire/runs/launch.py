"""Setting a run going: its budget, its guardrail stage, and how it stops itself.

The pieces the gateway assembles into a run's task (see ``Gateway._launch``); kept here so
the gateway reads as routes, starts and lookups.
"""

from __future__ import annotations

import dataclasses

from tokenwire.events import ErrorCode, EventType, RunStatus
from tokenwire.langchain.adapter import model_name
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.guarded_sink import GuardedSink
from tokenwire.routes import Route
from tokenwire.runs.execution import end_run
from tokenwire.runs.failures import START_FAILED
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run

__all__ = ["end_unstarted", "guarded_sink", "priced", "route_budget", "truncate"]


def route_budget(route: Route) -> RunBudget | None:
    """The route's budget, priced at the route's model when it has one."""
    return priced(route.budget, route)


def priced(budget: RunBudget | None, route: Route) -> RunBudget | None:
    if budget is None or budget.model is not None:
        return budget
    return dataclasses.replace(budget, model=model_name(route.runnable))


def truncate(run: Run, reason: str) -> None:
    run.stop(RunStatus.TRUNCATED, ErrorCode.BUDGET_EXCEEDED, reason)


def guarded_sink(run: Run, route: Route, recorder: RunRecorder) -> GuardedSink | None:
    """A guardrail pipeline in front of the recorder, when the route has output guards."""
    rails = route.guardrails
    if rails is None or not rails.guards:
        return None

    def stop(finding: Finding) -> None:
        message = f"stopped by the {finding.rule!r} guardrail: {finding.detail}"
        run.stop(RunStatus.BLOCKED, ErrorCode.POLICY_VIOLATION, message)

    return GuardedSink(recorder, rails.guards, on_stop=stop, window=rails.window, mode=rails.mode)


async def end_unstarted(run: Run, recorder: RunRecorder) -> None:
    """The task of a run whose set-up failed: its opening event, if missing, then its end."""
    if run.log.last_seq == 0:
        start = {"run_id": run.id, "route": run.route, "trace_id": run.trace_id, "cohort": "stream"}
        run.log.append(EventType.RUN_START, start)
    end_run(run, recorder, RunStatus.FAILED, None, START_FAILED)
