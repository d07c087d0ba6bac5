"""The run task: execute the runnable, record its events, always end with ``run.end``."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.runnables import RunnableConfig

from tokenwire.broker.base import EventLogFull
from tokenwire.events import ErrorCode, EventType, RunStatus
from tokenwire.langchain.adapter import AdapterOptions, stream_runnable
from tokenwire.routes import Route
from tokenwire.runs.failures import Failure, describe_failure
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run

__all__ = ["execute_run"]

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
) -> None:
    """Body of the run's task. Never raises: every outcome becomes events and a status."""
    options = AdapterOptions(mode=route.mode, answer_tag=route.answer_tag)
    output: Any = None
    failure: Failure | None = None
    status = RunStatus.COMPLETED
    try:
        output = await stream_runnable(route.runnable, input, config, recorder, options)
    except asyncio.CancelledError:
        # The run owns its task: a cancel (client, moderator, disconnect policy) is an
        # outcome to record, not an error to propagate.
        status = RunStatus.CANCELLED
        failure = Failure(ErrorCode.CANCELLED, f"run cancelled: {run.cancel_reason}", False)
    except EventLogFull:
        status = RunStatus.TRUNCATED
        failure = Failure(ErrorCode.BUDGET_EXCEEDED, "the run reached its event limit", False)
    except Exception as exc:
        status = RunStatus.FAILED
        failure = describe_failure(exc, expose=expose_errors)
    end_run(run, recorder, status, output, failure)


def end_run(
    run: Run, recorder: RunRecorder, status: RunStatus, output: Any, failure: Failure | None
) -> None:
    """Append ``error`` (if any), ``usage`` and ``run.end``, close the log, settle the run."""
    log = run.log
    if failure is not None:
        log.append(EventType.ERROR, failure.data(), terminal=True)
    usage = recorder.usage_data()
    log.append(EventType.USAGE, usage, terminal=True)
    summary = {
        "status": status.value,
        # A run that did not complete keeps exactly what was delivered.
        "output": output if status is RunStatus.COMPLETED else recorder.text,
        "finish_reason": _FINISH_REASONS[status],
        "usage": usage,
        "timings": recorder.timings(),
        "fallback_used": None,
    }
    if failure is not None:
        summary["error"] = failure.data()
    log.append(EventType.RUN_END, summary, terminal=True)
    log.close()
    run.finish(status, summary)
