"""What the audit trail records about a finished run.

Built in the audit writer task, never on the token path: it reads the run's settled
``summary`` (the ``run.end`` data) and scans its closed event log once for the model and
every ``guardrail`` action.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokenwire.events import EventType, RunStatus
from tokenwire.pipeline.audit_input import AuditedInput
from tokenwire.runs.run import Run

__all__ = ["audit_entry", "delivered_output"]

_START = EventType.RUN_START.value
_GUARDRAIL = EventType.GUARDRAIL.value


async def audit_entry(run: Run, input: Any) -> dict[str, Any]:
    """The record's fields (the store adds ``sequence``, ``recorded_at`` and the hashes).

    ``input``: the request input, or what a masking route keeps of it (``AuditedInput``)."""
    kept: dict[str, Any] = {}
    if isinstance(input, AuditedInput):
        input, kept = input.value, input.fields()
    model, guardrails = await _scan(run)
    summary = run.summary
    usage = summary.get("usage") or {}
    key_alias = run.metadata.get("key_alias")
    return {
        "run_id": run.id,
        "route": run.route,
        "model": model,
        "key_alias": None if key_alias is None else str(key_alias),
        "trace_id": run.trace_id,
        "status": run.status.value,
        "error": summary.get("error"),
        "finish_reason": summary.get("finish_reason"),
        "fallback_used": summary.get("fallback_used"),
        "input": _as_json(input),
        "output": _as_json(delivered_output(run)),
        "usage": usage,
        "cost_usd": usage.get("cost_usd"),
        "timings": summary.get("timings"),
        "guardrail_actions": guardrails,
        "created_at": run.created_at,
        "ended_at": run.ended_at,
        **kept,
    }


def delivered_output(run: Run) -> Any:
    """The output exactly as the client saw it.

    Text is taken from what went out as ``token`` events (the recorder's ``text``): guards
    mask text before it reaches the log, whereas a completed run's ``run.end.output`` is
    the runnable's return value. A run that did not complete already reports its delivered
    partial text. A structured result that was never streamed as text is recorded as sent.
    """
    output = run.summary.get("output")
    recorder = run.recorder
    if recorder is None:
        return output
    if run.status is not RunStatus.COMPLETED:
        return recorder.text
    if recorder.token_events and (output is None or isinstance(output, str)):
        return recorder.text
    return output


async def _scan(run: Run) -> tuple[str | None, list[dict[str, Any]]]:
    if not run.log.closed:
        # Only a run whose task never started lacks run.end; reading its log would wait forever.
        return None, []
    model: str | None = None
    guardrails: list[dict[str, Any]] = []
    async for batch in run.log.read(0):
        for event in batch:
            if event.type == _GUARDRAIL:
                guardrails.append({"seq": event.seq, **event.data})
            elif event.type == _START:
                model = event.data.get("model")
    return model, guardrails


def _as_json(value: Any) -> Any:
    """Plain JSON values, so a record reads back exactly as it was hashed."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
