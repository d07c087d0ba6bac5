"""Prometheus metrics, named after the OpenTelemetry GenAI semantic conventions.

Histograms use the conventions' bucket boundaries. Labels are bounded (route, model,
provider, key alias, cohort, status, code) — never user or run ids. Each gateway owns a
registry, so several gateways in one process (tests, multi-app setups) never collide.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tokenwire.telemetry.record import RunRecord

if TYPE_CHECKING:
    from tokenwire.reliability.stats import Reliability

__all__ = ["GatewayMetrics", "ReliabilityCollector"]

# gen_ai.client.operation.{duration,time_to_first_chunk,time_per_output_chunk}
TIME_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
# Delivery lag is the gateway's own latency: finer than a model's.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# gen_ai.client.token.usage
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, … 67108864

_ATTRIBUTION = ("route", "model", "provider", "key_alias", "cohort")


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.ttft = Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time to the first non-empty content chunk of a stream.",
            _ATTRIBUTION,
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.per_chunk = Histogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Time between consecutive output chunks after the first.",
            _ATTRIBUTION,
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.delivery_lag = Histogram(
            "tokenwire_delivery_lag_seconds",
            "Token logged by the gateway to written on a client's socket, per write "
            "(the gateway's own share of what a client waits for).",
            ("route",),
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Duration of a run, start to run.end.",
            (*_ATTRIBUTION, "status"),
            buckets=TIME_BUCKETS,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens used by a run, by gen_ai_token_type (input/output).",
            (*_ATTRIBUTION, "gen_ai_token_type"),
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "tokenwire_runs", "Finished runs by status.", (*_ATTRIBUTION, "status"), registry=r
        )
        self.errors = Counter(
            "tokenwire_errors",
            "Runs that ended with an error, by code.",
            ("route", "code"),
            registry=r,
        )
        self.cost = Counter(
            "tokenwire_cost_usd",
            "Estimated spend in USD (priced models only).",
            _ATTRIBUTION,
            registry=r,
        )
        self.stalls = Counter(
            "tokenwire_stalls",
            "Inter-token gaps over the stall threshold.",
            _ATTRIBUTION,
            registry=r,
        )
        self.fallbacks = Counter(
            "tokenwire_fallbacks",
            "Runs answered by a fallback.",
            ("route", "fallback"),
            registry=r,
        )
        self.guardrail_actions = Counter(
            "tokenwire_guardrail_actions",
            "Guardrail decisions.",
            ("route", "action", "rule"),
            registry=r,
        )
        self.actions = Counter(
            "tokenwire_actions",
            "@action calls: succeeded or failed (executed), or replayed from the ledger.",
            ("route", "action", "status"),
            registry=r,
        )
        self.tokens_after_disconnect = Counter(
            "tokenwire_tokens_after_disconnect",
            "Token chunks generated while no client was subscribed (paid for, unread).",
            ("route", "model"),
            registry=r,
        )
        self.dropped = Counter(
            "tokenwire_telemetry_dropped",
            "Telemetry records dropped (queue full or export error).",
            ("exporter",),
            registry=r,
        )
        self.client_disconnects = Counter(
            "tokenwire_client_disconnects",
            "Requests whose client disconnected before sending its whole body.",
            registry=r,
        )
        self.active = Gauge(
            "tokenwire_active_streams", "Runs generating right now.", ("route",), registry=r
        )

    def observe(self, record: RunRecord) -> None:
        """Everything about one finished run; called off the token path."""
        labels = (
            record.route,
            record.model or "unknown",
            record.provider,
            record.key_alias,
            record.cohort,
        )
        if record.ttft_s is not None and not record.ttft_observed:
            self.ttft.labels(*labels).observe(record.ttft_s)
        observe_many(self.per_chunk.labels(*labels), record.gaps)
        if record.delivery_lags:
            observe_many(self.delivery_lag.labels(record.route), record.delivery_lags)
        self.duration.labels(*labels, record.status).observe(record.duration_s)
        self.token_usage.labels(*labels, "input").observe(record.input_tokens)
        self.token_usage.labels(*labels, "output").observe(record.output_tokens)
        self.runs.labels(*labels, record.status).inc()
        if record.error_code:
            self.errors.labels(record.route, record.error_code).inc()
        if record.cost_usd:
            self.cost.labels(*labels).inc(record.cost_usd)
        if record.stalls:
            self.stalls.labels(*labels).inc(record.stalls)
        if record.fallback_used is not None:
            self.fallbacks.labels(record.route, str(record.fallback_used)).inc()
        for action, rule in record.guardrail_actions:
            self.guardrail_actions.labels(record.route, action, rule).inc()
        for name, outcome, calls in record.actions:
            self.actions.labels(record.route, name, outcome).inc(calls)
        if record.tokens_after_disconnect:
            self.tokens_after_disconnect.labels(record.route, record.model or "unknown").inc(
                record.tokens_after_disconnect
            )

    def first_token(self, record: RunRecord) -> None:
        """A live run's first token: its TTFT, observed once, while it streams (``observe``
        then skips it: ``record.ttft_observed``). Labelled as ``observe`` labels."""
        if record.ttft_s is None:
            return
        labels = (
            record.route,
            record.model or "unknown",
            record.provider,
            record.key_alias,
            record.cohort,
        )
        self.ttft.labels(*labels).observe(record.ttft_s)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    # -- as an exporter behind the telemetry pipeline ---------------------------------------
    name = "prometheus"

    def export(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self.observe(record)

    def close(self) -> None:
        return None


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``observe`` each value, but count them into buckets first: one lock and one add per
    bucket instead of per value (a run has a gap per token). Relies on the child's
    ``_upper_bounds``/``_buckets``/``_sum``; falls back to plain ``observe`` without them."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    counts = Tally(bisect_left(bounds, value) for value in values)
    for index, count in counts.items():
        buckets[index].inc(count)
    total.inc(sum(values))


class ReliabilityCollector(Collector):
    """Reliability counters and circuit-breaker states, read at scrape time (the run path
    only bumps plain integers)."""

    def __init__(self, reliability: Reliability) -> None:
        self._reliability = reliability

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "tokenwire_reliability_events",
            "Retries, fallbacks, restarts, timeouts, breaker skips, shutdown cut-offs.",
            labels=["kind"],
        )
        for kind, count in self._reliability.stats.as_dict().items():
            events.add_metric([kind], count)
        yield events
        open_now = GaugeMetricFamily(
            "tokenwire_circuit_open", "1 while an upstream's breaker is open.", labels=["upstream"]
        )
        opened = CounterMetricFamily(
            "tokenwire_circuit_opened", "Times an upstream's breaker opened.", labels=["upstream"]
        )
        for breaker in self._reliability.breakers.snapshot():
            open_now.add_metric([breaker["upstream"]], 1.0 if breaker["state"] == "open" else 0.0)
            opened.add_metric([breaker["upstream"]], breaker["times_opened"])
        yield open_now
        yield opened
