"""The run task: run the route's attempts, record their events, always end with ``run.end``.

The attempts (the route's runnable, retries, fallbacks, mid-stream policy) live in
:mod:`tokenwire.runs.attempts`; this module turns how they ended into a status, an
``error`` and the closing events. ``total_timeout`` guards all attempts together, backoff
waits included.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from tokenwire.actions.call import calls_ended
from tokenwire.actions.scope import ActionScope
from tokenwire.actions.settle import Ending, settle
from tokenwire.broker.base import EventLogFull
from tokenwire.events import ErrorCode, EventType, RunStatus
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.stage import Stage
from tokenwire.plain_json import json_ready
from tokenwire.reliability.stats import Reliability
from tokenwire.reliability.timeouts import DeadlineExceeded, Watchdog
from tokenwire.routes import Route
from tokenwire.runs.attempts import Attempts, AttemptsFailed
from tokenwire.runs.failures import SHUTDOWN_REASON, Failure, describe_failure, shutdown_failure
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run

__all__ = ["end_run", "execute_run"]

log = logging.getLogger("tokenwire.runs")

_FINISH_REASONS = {
    RunStatus.COMPLETED: "stop",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.TRUNCATED: "length",
    RunStatus.BLOCKED: "content_filter",
    RunStatus.INTERRUPTED: "interrupt",
}
#: Statuses whose ``run.end`` output is the runnable's own (else: the text delivered).
_OWN_OUTPUT = frozenset({RunStatus.COMPLETED, RunStatus.INTERRUPTED})


async def execute_run(
    run: Run,
    route: Route,
    input: Any,
    config: RunnableConfig,
    recorder: RunRecorder,
    *,
    expose_errors: bool = False,
    reliability: Reliability | None = None,
    sink: Stage | None = None,
) -> None:
    """Body of the run's task. Never raises: every outcome becomes events and a status.

    ``sink``: the head of the run's stages (``budget → guards → recorder``, see
    :func:`tokenwire.runs.launch.run_stages`) when not ``recorder`` alone.
    """
    try:
        await _execute(run, route, input, config, recorder, expose_errors, reliability, sink)
    except BaseException as exc:
        if not run.done:  # raised past every outcome: still exactly one run.end
            log.error("run %s: ended by its task's last resort", run.id, exc_info=exc)
            end_run(run, recorder, RunStatus.FAILED, None, _ENDING_FAILED)
        if not isinstance(exc, Exception | asyncio.CancelledError):
            raise


async def _execute(
    run: Run,
    route: Route,
    input: Any,
    config: RunnableConfig,
    recorder: RunRecorder,
    expose_errors: bool,
    reliability: Reliability | None,
    sink: Stage | None,
) -> None:
    reliability = reliability or Reliability()
    attempts = Attempts(
        route,
        input,
        config,
        recorder,
        run.log,
        reliability,
        expose_errors=expose_errors,
        sink=sink,
        stopped=lambda: run.stopped,
    )
    head = sink or recorder
    rails = route.guardrails
    output: Any = None
    failure: Failure | None = None
    status = RunStatus.COMPLETED
    try:
        refusal = route.guardrails.check_input(input) if route.guardrails is not None else None
        if refusal is not None:
            raise InputRefused(refusal)
        if route.total_timeout is None:
            output = await attempts.run()
        else:
            async with Watchdog(total=route.total_timeout, now=recorder.clock):
                output = await attempts.run()
        await head.drain()  # the answer is complete: release what the stages held back
        if run.stopped:
            # The stop's cancellation may not have landed yet: end as it says, now.
            raise asyncio.CancelledError
        if (rails is not None and rails.guards) or route.output == "text":
            # Only what the guards let through may leave, structured outputs included.
            output = recorder.text
        if recorder.interrupts:  # the graph paused: its thread waits for a Command
            status = RunStatus.INTERRUPTED
    except InputRefused as refused:
        # Input moderation: the model is never called.
        recorder.guardrail(refused.finding)
        status = RunStatus.BLOCKED
        failure = Failure(ErrorCode.POLICY_VIOLATION, refused.message, False)
    except asyncio.CancelledError:
        # The run owns its task: a cancel (client, moderator, disconnect policy, shutdown)
        # is an outcome to record, not an error to propagate.
        status, failure = _cancelled(run, reliability)
    except EventLogFull:
        status = RunStatus.TRUNCATED
        failure = Failure(ErrorCode.BUDGET_EXCEEDED, "the run reached its event limit", False)
    except AttemptsFailed as exc:
        status, failure = RunStatus.FAILED, exc.failure
    except Exception as exc:
        if isinstance(exc, DeadlineExceeded):
            reliability.stats.total_timeouts += 1
        status, failure = RunStatus.FAILED, describe_failure(exc, expose=expose_errors)
    finally:
        head.cancel()
    if run.actions is not None and run.actions.executing:
        # A cancel does not stop an action that may have reached its system of record:
        # the run ends once it has recorded how it ended (a retry then replays it).
        await calls_ended(run.actions)
    if run.actions is not None and (run.actions.deferred or run.actions.thread_id is not None):
        await _settle_deferred(run.actions, recorder, status)
    if failure is not None and route.masking is not None:  # an error may quote any text
        failure = dataclasses.replace(failure, message=route.masking.text(failure.message))
    end_run(
        run,
        recorder,
        status,
        output,
        failure,
        usage=attempts.usage.data,
        fallback_used=attempts.fallback_used,
    )


async def _settle_deferred(scope: ActionScope, recorder: RunRecorder, status: RunStatus) -> None:
    """Commit or discard the run's deferred actions, and those its thread's paused run
    left (``actions/settle.py``) — before ``run.end``. Not cut short by a late cancel: it
    runs to its end (each call within the commit deadline)."""
    ending: Ending = "ended"
    if status is RunStatus.COMPLETED:
        ending = "completed"
    elif status is RunStatus.INTERRUPTED:
        ending = "paused"
    settling = asyncio.ensure_future(settle(scope, ending, recorder.action))
    while not settling.done():  # a cancel now (insisted on) must not cut a commit short
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(settling)
    settling.result()


class InputRefused(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.rule)
        self.finding = finding
        self.message = f"the input was refused by the {finding.rule!r} guardrail"


def _cancelled(run: Run, reliability: Reliability) -> tuple[RunStatus, Failure]:
    if run.stop_outcome is not None:  # Run.stop: a guardrail or a budget ended it
        status, code, message = run.stop_outcome
        return status, Failure(code, message, False)
    if run.cancel_reason == SHUTDOWN_REASON:
        reliability.stats.incomplete_at_shutdown += 1
        return RunStatus.FAILED, shutdown_failure()
    return RunStatus.CANCELLED, Failure(
        ErrorCode.CANCELLED, f"run cancelled: {run.cancel_reason}", False
    )


def end_run(
    run: Run,
    recorder: RunRecorder,
    status: RunStatus,
    output: Any,
    failure: Failure | None,
    *,
    usage: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
    fallback_used: str | None = None,
) -> None:
    """Append ``error`` (if any), ``usage`` and ``run.end``, close the log, settle the run.

    The one place a run ends, so it never raises: if the closing events cannot be built (a
    usage estimate over an input no serialiser takes, a broken callable), the run ends
    ``failed`` with an ``internal`` error instead — still exactly one ``run.end``.
    """
    try:
        summary = _summary(recorder, status, output, failure, usage, fallback_used)
    except Exception:
        log.exception("run %s: its closing events could not be built", run.id)
        status, failure = RunStatus.FAILED, _ENDING_FAILED
        summary = _fallback_summary(recorder, failure)
    _close(run, status, summary)


#: How a run ends when building its normal ending failed.
_ENDING_FAILED = Failure(ErrorCode.INTERNAL, "the gateway failed while ending the run", False)


def _summary(
    recorder: RunRecorder,
    status: RunStatus,
    output: Any,
    failure: Failure | None,
    usage: dict[str, Any] | Callable[[], dict[str, Any]] | None,
    fallback_used: str | None,
) -> dict[str, Any]:
    """``run.end``'s data; every value in it plain JSON (the log's encoders take nothing
    else)."""
    if callable(usage):
        usage = usage()
    elif usage is None:
        usage = recorder.usage_data()
    summary = {
        "status": status.value,
        # A run that did not complete keeps exactly what was delivered.
        "output": json_ready(output) if status in _OWN_OUTPUT else recorder.text,
        "finish_reason": _FINISH_REASONS[status],
        "usage": usage,
        "timings": recorder.timings(),
        "fallback_used": fallback_used,
        # Every model that ran: a graph's are known only once they ran, not at run.start.
        "models": list(recorder.models),
    }
    if failure is not None:
        summary["error"] = failure.data()
    return summary


def _fallback_summary(recorder: RunRecorder, failure: Failure) -> dict[str, Any]:
    """Built from nothing that can raise: the delivered text and zeroed usage."""
    usage = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_input_tokens": 0,
        "estimated": True,
        "cost_usd": None,
    }
    try:
        timings: dict[str, Any] | None = recorder.timings()
    except Exception:
        timings = None
    return {
        "status": RunStatus.FAILED.value,
        "output": recorder.text,
        "finish_reason": _FINISH_REASONS[RunStatus.FAILED],
        "usage": usage,
        "timings": timings,
        "fallback_used": None,
        "error": failure.data(),
    }


def _close(run: Run, status: RunStatus, summary: dict[str, Any]) -> None:
    log = run.log
    if not log.closed:
        error = summary.get("error")
        if error is not None:
            log.append(EventType.ERROR, error, terminal=True)
        log.append(EventType.USAGE, summary["usage"], terminal=True)
        log.append(EventType.RUN_END, summary, terminal=True)
        log.close()
    run.finish(status, summary)
