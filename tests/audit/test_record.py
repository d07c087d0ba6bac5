"""What goes into a run's record: the delivered (masked) text and the guardrail actions."""

from __future__ import annotations

from typing import Any

from tokenwire.audit import audit_entry
from tokenwire.broker.memory import MemoryEventLog
from tokenwire.events import EventType, RunStatus
from tokenwire.runs.execution import end_run
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run


def _run(metadata: dict[str, Any] | None = None) -> tuple[Run, RunRecorder]:
    log = MemoryEventLog("r1", 1000)
    run = Run(
        id="r1",
        route="support",
        log=log,
        on_disconnect="cancel",
        grace_seconds=0,
        trace_id="t" * 32,
        metadata=metadata or {},
    )
    run.recorder = RunRecorder(log)
    log.append(EventType.RUN_START, {"run_id": "r1", "route": "support", "model": "gpt-x"})
    return run, run.recorder


async def test_a_completed_run_records_the_masked_text_not_the_raw_output() -> None:
    run, recorder = _run({"key_alias": 7})
    recorder.token("Write to ")
    recorder.token("[email]")  # what a redacting guard released instead of the address
    run.log.append(
        EventType.GUARDRAIL, {"action": "redact", "rule": "pii.email", "detail": "1 email"}
    )
    recorder.token(" today.")
    end_run(run, recorder, RunStatus.COMPLETED, "Write to bob@example.com today.", None)

    record = await audit_entry(run, {"messages": [{"role": "user", "content": "hi"}]})

    assert record["output"] == "Write to [email] today."
    assert "bob@example.com" not in str(record)
    assert record["guardrail_actions"] == [
        {"seq": 4, "action": "redact", "rule": "pii.email", "detail": "1 email"}
    ]
    assert record["model"] == "gpt-x"
    assert record["key_alias"] == "7"
    assert record["input"] == {"messages": [{"role": "user", "content": "hi"}]}
    assert record["status"] == "completed" and record["error"] is None
    assert record["usage"]["estimated"] is True


async def test_a_structured_result_never_streamed_is_recorded_as_sent() -> None:
    run, recorder = _run()
    end_run(run, recorder, RunStatus.COMPLETED, {"answer": 42}, None)
    assert (await audit_entry(run, "q"))["output"] == {"answer": 42}


async def test_a_run_that_never_started_is_still_recorded() -> None:
    run, _ = _run()  # no run.end, log open: reading it must not wait forever
    record = await audit_entry(run, "q")
    assert record["status"] == "running" and record["guardrail_actions"] == []


async def test_a_graphs_model_is_named_from_the_models_that_ran() -> None:
    """run.start cannot name the models inside a graph; the record takes them from run.end."""
    log = MemoryEventLog("r2", 1000)
    run = Run("r2", "graph", log, "cancel", 0, "t" * 32)
    run.recorder = recorder = RunRecorder(log)
    log.append(EventType.RUN_START, {"run_id": "r2", "route": "graph", "model": None})
    recorder.usage(3, 2, "mock-agent-model")
    end_run(run, recorder, RunStatus.COMPLETED, "ok", None)
    assert (await audit_entry(run, "q"))["model"] == "mock-agent-model"
