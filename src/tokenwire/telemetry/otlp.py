"""OTLP export (traces and metrics) with the OpenTelemetry SDK — the ``otel`` extra.

One span per run, named ``chat {model}``, carrying the GenAI attributes
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.request.stream``, ``gen_ai.response.time_to_first_chunk``, ``gen_ai.usage.*``,
``error.type``), with span events for stalls and fallbacks. Its trace id is the run's
``trace_id`` — the one clients see in ``run.start`` — so a user can quote it.

``export`` and ``close`` run on the telemetry pipeline's export thread, never the loop. Every
batch the collector refuses or never answers is counted in ``dropped`` (and ``on_drop``);
``timeout`` bounds each OTLP request and the metric shutdown, so a dead collector cannot
hold ``close`` much beyond it (the pipeline stops waiting at its own grace anyway).
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode

from tokenwire.telemetry.metrics import TIME_BUCKETS, TOKEN_BUCKETS
from tokenwire.telemetry.otlp_delivery import CountingMetricExporter, CountingSpanExporter
from tokenwire.telemetry.record import RunRecord

__all__ = ["OtlpExporter"]

_TRACE_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("tokenwire_trace_id")


class _RunTraceIds(IdGenerator):
    """Trace ids come from the run being exported; span ids are random."""

    def generate_span_id(self) -> int:
        return random.getrandbits(64)

    def generate_trace_id(self) -> int:
        return _TRACE_ID.get(None) or random.getrandbits(128)


class OtlpExporter:
    name = "otlp"

    def __init__(
        self,
        endpoint: str,
        *,
        service_name: str = "tokenwire",
        stall_threshold: float = 1.0,
        metric_interval_ms: int = 10_000,
        timeout: float = 10.0,
        on_drop: Callable[[str, int], None] | None = None,
    ) -> None:
        endpoint = endpoint.rstrip("/")
        self._on_drop = on_drop
        self._timeout = timeout
        #: Spans and metric data points the collector did not take, by OTLP signal.
        self.dropped: dict[str, int] = {}
        resource = Resource.create({"service.name": service_name})
        self._tracer_provider = TracerProvider(resource=resource, id_generator=_RunTraceIds())
        self._tracer_provider.add_span_processor(
            BatchSpanProcessor(
                CountingSpanExporter(
                    OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=timeout),
                    self._count_drop,
                )
            )
        )
        self._tracer = self._tracer_provider.get_tracer("tokenwire")
        reader = PeriodicExportingMetricReader(
            CountingMetricExporter(
                OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", timeout=timeout),
                self._count_drop,
            ),
            export_interval_millis=metric_interval_ms,
            export_timeout_millis=timeout * 1000,
        )
        self._meter_provider = MeterProvider(
            resource=resource, metric_readers=[reader], views=_views()
        )
        meter = self._meter_provider.get_meter("tokenwire")
        self._ttft = meter.create_histogram("gen_ai.client.operation.time_to_first_chunk", "s")
        self._per_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_per_output_chunk", "s"
        )
        self._duration = meter.create_histogram("gen_ai.client.operation.duration", "s")
        self._tokens = meter.create_histogram("gen_ai.client.token.usage", "{token}")
        self._stall_threshold = stall_threshold

    def export(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self._span(record)
            self._measure(record)

    def _span(self, record: RunRecord) -> None:
        start_ns = int(record.started_at * 1e9)
        token = _TRACE_ID.set(int(record.trace_id, 16))
        try:
            span = self._tracer.start_span(
                f"chat {record.model or record.route}",
                kind=SpanKind.CLIENT,
                start_time=start_ns,
                attributes=span_attributes(record),
            )
        finally:
            _TRACE_ID.reset(token)
        for at_s, gap in _stall_times(record, self._stall_threshold):
            span.add_event(
                "gen_ai.stream.stall", {"tokenwire.gap_s": gap}, start_ns + int(at_s * 1e9)
            )
        for action, rule in record.guardrail_actions:
            span.add_event(
                "tokenwire.guardrail", {"tokenwire.action": action, "tokenwire.rule": rule}
            )
        if record.fallback_used is not None:
            span.add_event("tokenwire.fallback", {"tokenwire.fallback": str(record.fallback_used)})
        if record.status == "failed":
            span.set_status(Status(StatusCode.ERROR, record.error_code or "failed"))
        span.end(end_time=start_ns + int(record.duration_s * 1e9))

    def _measure(self, record: RunRecord) -> None:
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": record.provider,
            "gen_ai.request.model": record.model or "unknown",
            "tokenwire.route": record.route,
        }
        if record.ttft_s is not None:
            self._ttft.record(record.ttft_s, attributes)
        for gap in record.gaps:
            self._per_chunk.record(gap, attributes)
        self._duration.record(record.duration_s, attributes)
        self._tokens.record(record.input_tokens, {**attributes, "gen_ai.token.type": "input"})
        self._tokens.record(record.output_tokens, {**attributes, "gen_ai.token.type": "output"})

    def force_flush(self) -> None:
        self._tracer_provider.force_flush()
        self._meter_provider.force_flush()

    def close(self) -> None:
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown(timeout_millis=self._timeout * 1000)

    def _count_drop(self, signal: str, count: int) -> None:
        self.dropped[signal] = self.dropped.get(signal, 0) + count
        if self._on_drop is not None and count:
            self._on_drop(signal, count)


def span_attributes(record: RunRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": record.provider,
        "gen_ai.request.model": record.model or "unknown",
        "gen_ai.request.stream": True,
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "tokenwire.run_id": record.run_id,
        "tokenwire.route": record.route,
        "tokenwire.status": record.status,
        "tokenwire.cohort": record.cohort,
        "tokenwire.usage.estimated": record.estimated,
    }
    if record.ttft_s is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = record.ttft_s
    if record.error_code is not None:
        attributes["error.type"] = record.error_code
    if record.cost_usd is not None:
        attributes["tokenwire.cost_usd"] = record.cost_usd
    return attributes


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


def _views() -> list[View]:
    def buckets(name: str, bounds: Sequence[float]) -> View:
        return View(
            instrument_name=name,
            aggregation=ExplicitBucketHistogramAggregation(boundaries=list(bounds)),
        )

    return [
        buckets("gen_ai.client.operation.time_to_first_chunk", TIME_BUCKETS),
        buckets("gen_ai.client.operation.time_per_output_chunk", TIME_BUCKETS),
        buckets("gen_ai.client.operation.duration", TIME_BUCKETS),
        buckets("gen_ai.client.token.usage", TOKEN_BUCKETS),
    ]
