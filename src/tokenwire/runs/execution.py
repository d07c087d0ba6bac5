"""The run task: run the route's attempts, record their events, always end with ``run.end``.

The attempts (the route's runnable, retries, fallbacks, mid-stream policy) live in
:mod:`tokenwire.reliability.attempts`; this module turns how they ended into a status, an
``error`` and the closing events. ``total_timeout`` guards all attempts together, backoff
waits included.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from langchain_core.runnables import RunnableConfig

from tokenwire.broker.base import EventLogFull
from tokenwire.events import ErrorCode, EventType, RunStatus
from tokenwire.langchain.sink import RunSink
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.guarded_sink import GuardedSink
from tokenwire.reliability.attempts import Attempts, AttemptsFailed
from tokenwire.reliability.stats import Reliability
from tokenwire.reliability.timeouts import DeadlineExceeded, Watchdog
from tokenwire.routes import Route
from tokenwire.runs.failures import SHUTDOWN_REASON, Failure, describe_failure, shutdown_failure
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run

__all__ = ["end_run", "execute_run"]

_FINISH_REASONS = {
    RunStatus.COMPLETED: "stop",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.TRUNCATED: "length",
    RunStatus.BLOCKED: "content_filter",
}


async def execute_run(
    run: Run,
    route: Route,
    input: Any,
    config: RunnableConfig,
    recorder: RunRecorder,
    *,
    expose_errors: bool = False,
    reliability: Reliability | None = None,
    sink: RunSink | None = None,
) -> None:
    """Body of the run's task. Never raises: every outcome becomes events and a status.

    ``sink``: where the runnable's output goes when not straight to ``recorder`` (a
    pipeline, e.g. guardrails, that forwards to it).
    """
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
        stopped=lambda: run.stop_outcome is not None,
    )
    guard = sink if isinstance(sink, GuardedSink) else None
    refusal = route.guardrails.check_input(input) if route.guardrails is not None else None
    output: Any = None
    failure: Failure | None = None
    status = RunStatus.COMPLETED
    try:
        if refusal is not None:
            raise InputRefused(refusal)
        if route.total_timeout is None:
            output = await attempts.run()
        else:
            async with Watchdog(total=route.total_timeout):
                output = await attempts.run()
        if guard is not None:
            await guard.drain()  # the answer is complete: release what the guards held back
            if guard.stopped is not None:
                # The stop's cancellation may not have landed yet: end as it says, now.
                raise asyncio.CancelledError
            # Only what the guards let through may leave, structured outputs included.
            output = recorder.text
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
        if guard is not None:
            guard.cancel()
    if failure is not None and route.masking is not None:  # an error may quote any text
        failure = dataclasses.replace(failure, message=route.masking.text(failure.message))
    end_run(
        run,
        recorder,
        status,
        output,
        failure,
        usage=attempts.usage.data(),
        fallback_used=attempts.fallback_used,
    )


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
    usage: dict[str, Any] | None = None,
    fallback_used: str | None = None,
) -> None:
    """Append ``error`` (if any), ``usage`` and ``run.end``, close the log, settle the run."""
    log = run.log
    if failure is not None:
        log.append(EventType.ERROR, failure.data(), terminal=True)
    if usage is None:
        usage = recorder.usage_data()
    log.append(EventType.USAGE, usage, terminal=True)
    summary = {
        "status": status.value,
        # A run that did not complete keeps exactly what was delivered.
        "output": output if status is RunStatus.COMPLETED else recorder.text,
        "finish_reason": _FINISH_REASONS[status],
        "usage": usage,
        "timings": recorder.timings(),
        "fallback_used": fallback_used,
    }
    if failure is not None:
        summary["error"] = failure.data()
    log.append(EventType.RUN_END, summary, terminal=True)
    log.close()
    run.finish(status, summary)
