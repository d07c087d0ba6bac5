"""OTLP export (traces and metrics) with the OpenTelemetry SDK — the ``otel`` extra.

A span per run, named ``chat {model}``, carrying the GenAI attributes
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.request.stream``, ``gen_ai.response.time_to_first_chunk``, ``gen_ai.usage.*``,
``error.type``) and the OpenInference ones Arize Phoenix reads
(:mod:`~tokenwire.telemetry.openinference`), with span events for stalls and fallbacks and
a child span per model call, tool call and retrieval (:mod:`~tokenwire.telemetry.run_spans`).
Its trace id is the run's ``trace_id`` — the one clients see in ``run.start``, the caller's
when the request carried a ``traceparent`` — so a user can quote it.

``metrics=False`` exports traces only (Phoenix answers ``/v1/metrics`` with 405);
``headers`` go on every request; ``project`` is the ``openinference.project.name``
resource attribute, the Phoenix project the spans land in.

``export`` and ``close`` run on the telemetry pipeline's export thread, never the loop. Every
batch the collector refuses or never answers is counted in ``dropped`` (and ``on_drop``);
``timeout`` bounds each OTLP request and the metric shutdown, so a dead collector cannot
hold ``close`` much beyond it (the pipeline stops waiting at its own grace anyway).
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator

from tokenwire.telemetry.metrics import TIME_BUCKETS, TOKEN_BUCKETS
from tokenwire.telemetry.openinference import PROJECT_NAME
from tokenwire.telemetry.otlp_delivery import CountingMetricExporter, CountingSpanExporter
from tokenwire.telemetry.record import RunRecord
from tokenwire.telemetry.run_spans import emit_run

__all__ = ["OtlpExporter", "otlp_headers"]

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
        metrics: bool = True,
        headers: Mapping[str, str] | None = None,
        project: str = "",
    ) -> None:
        endpoint = endpoint.rstrip("/")
        self._on_drop = on_drop
        self._timeout = timeout
        # An empty dict, not None: None lets the SDK read OTEL_EXPORTER_OTLP_HEADERS itself.
        headers = dict(headers or {})
        #: Spans and metric data points the collector did not take, by OTLP signal.
        self.dropped: dict[str, int] = {}
        identity = {"service.name": service_name}
        if project:
            identity[PROJECT_NAME] = project
        resource = Resource.create(identity)
        self._tracer_provider = TracerProvider(resource=resource, id_generator=_RunTraceIds())
        self._tracer_provider.add_span_processor(
            BatchSpanProcessor(
                CountingSpanExporter(
                    OTLPSpanExporter(
                        endpoint=f"{endpoint}/v1/traces", timeout=timeout, headers=headers
                    ),
                    self._count_drop,
                )
            )
        )
        self._tracer = self._tracer_provider.get_tracer("tokenwire")
        readers = []
        if metrics:
            exporter = OTLPMetricExporter(
                endpoint=f"{endpoint}/v1/metrics", timeout=timeout, headers=headers
            )
            readers.append(
                PeriodicExportingMetricReader(
                    CountingMetricExporter(exporter, self._count_drop),
                    export_interval_millis=metric_interval_ms,
                    export_timeout_millis=timeout * 1000,
                )
            )
        # With no reader the instruments below record into nothing: no branch per run.
        self._meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, views=_views()
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
        token = _TRACE_ID.set(int(record.trace_id, 16))
        try:
            emit_run(self._tracer, record, self._stall_threshold)
        finally:
            _TRACE_ID.reset(token)

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


def otlp_headers(text: str) -> dict[str, str]:
    """``name=value,name2=value2`` (as ``OTEL_EXPORTER_OTLP_HEADERS``; values URL-encoded)."""
    headers = {}
    for pair in text.split(","):
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            if pair.strip():
                raise ValueError("otlp_headers: expected name=value pairs separated by commas")
            continue
        headers[unquote(name.strip()).lower()] = unquote(value.strip())
    return headers
