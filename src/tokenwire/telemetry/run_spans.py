"""A finished run as OpenTelemetry spans: the run span and a child span per step.

Built on the export thread from the :class:`RunRecord` alone (every time is an offset from
the run's start, placed on its epoch ``started_at``). The run span continues the caller's
trace when the request came with a W3C ``traceparent`` (``parent_span_id``); its status
says how a run that did not complete ended — ``blocked``, ``truncated``, ``cancelled``,
``failed`` — with the error code and message in the description.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
)

from tokenwire.telemetry.openinference import run_attributes, step_attributes, step_name
from tokenwire.telemetry.record import RunRecord

__all__ = ["emit_run", "run_status", "span_attributes"]

#: Statuses a run ends with that are not its answer in full. ``interrupted`` is a pause
#: (a LangGraph ``interrupt()``), not a failure, so its span stays unset.
_NOT_COMPLETED = frozenset({"failed", "blocked", "truncated", "cancelled"})


def emit_run(tracer: Tracer, record: RunRecord, stall_threshold: float) -> None:
    """Start and end the run span and its children, with their recorded times."""
    start_ns = int(record.started_at * 1e9)
    end_ns = start_ns + int(record.duration_s * 1e9)
    span = tracer.start_span(
        f"chat {record.model or record.route}",
        context=_caller(record),
        kind=SpanKind.CLIENT,
        start_time=start_ns,
        attributes=span_attributes(record),
    )
    for at_s, gap in _stall_times(record, stall_threshold):
        span.add_event("gen_ai.stream.stall", {"tokenwire.gap_s": gap}, start_ns + int(at_s * 1e9))
    for action, rule in record.guardrail_actions:
        span.add_event("tokenwire.guardrail", {"tokenwire.action": action, "tokenwire.rule": rule})
    if record.fallback_used is not None:
        span.add_event("tokenwire.fallback", {"tokenwire.fallback": str(record.fallback_used)})
    _children(tracer, span, record, start_ns, end_ns)
    status = run_status(record)
    if status is not None:
        span.set_status(status)
    span.end(end_time=end_ns)


def run_status(record: RunRecord) -> Status | None:
    """ERROR for a run that did not complete, described as ``status: code: message``."""
    if record.status not in _NOT_COMPLETED:
        return None
    parts = [record.status, record.error_code, record.end_reason]
    return Status(StatusCode.ERROR, ": ".join(part for part in parts if part))


def span_attributes(record: RunRecord) -> dict[str, Any]:
    """The run span's GenAI, OpenInference and tokenwire attributes."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": record.provider,
        "gen_ai.request.model": record.model or "unknown",
        "gen_ai.request.stream": record.cohort != "batch",
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "tokenwire.run_id": record.run_id,
        "tokenwire.route": record.route,
        "tokenwire.status": record.status,
        "tokenwire.cohort": record.cohort,
        "tokenwire.variant": record.variant,
        "tokenwire.usage.estimated": record.estimated,
        **run_attributes(record),
    }
    if record.ttft_s is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = record.ttft_s
    if record.error_code is not None:
        attributes["error.type"] = record.error_code
    if record.cost_usd is not None:
        attributes["tokenwire.cost_usd"] = record.cost_usd
    return attributes


def _caller(record: RunRecord) -> Context | None:
    """The context of the caller's span, from the request's ``traceparent``."""
    if record.parent_span_id is None:
        return None
    caller = SpanContext(
        int(record.trace_id, 16),
        int(record.parent_span_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(caller))


def _children(tracer: Tracer, run: Span, record: RunRecord, start_ns: int, end_ns: int) -> None:
    """A span per step, under its enclosing step or the run; an unended step (the run was
    cancelled while it ran) ends with the run."""
    spans: list[Span] = []
    for step in record.steps:
        parent = run if step.parent is None or step.parent >= len(spans) else spans[step.parent]
        child = tracer.start_span(
            step_name(step),
            context=trace.set_span_in_context(parent),
            kind=SpanKind.CLIENT if step.kind == "llm" else SpanKind.INTERNAL,
            start_time=start_ns + int(step.started * 1e9),
            attributes=step_attributes(step, record.provider),
        )
        if step.error is not None:
            child.set_status(Status(StatusCode.ERROR, step.error))
        spans.append(child)
    for step, child in zip(record.steps, spans, strict=True):
        ended = end_ns if step.ended is None else start_ns + int(step.ended * 1e9)
        child.end(end_time=min(ended, end_ns))


def _stall_times(record: RunRecord, threshold: float) -> list[tuple[float, float]]:
    """(seconds after start, gap) of each stall, rebuilt from TTFT and the gaps."""
    if record.ttft_s is None:
        return []
    at, stalls = record.ttft_s, []
    for gap in record.gaps:
        at += gap
        if gap > threshold:
            stalls.append((at, gap))
    return stalls
