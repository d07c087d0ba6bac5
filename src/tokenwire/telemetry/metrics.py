"""Prometheus metrics, named after the OpenTelemetry GenAI semantic conventions.

Labels are the GenAI attributes' names plus tokenwire's (:mod:`.attribution`), every value
from a bounded set — never user or run ids; a run's trace id rides along as an exemplar on
the latency histograms instead (OpenMetrics exposition). Bucket boundaries are the
conventions' unless configured. Each gateway owns a registry, so several gateways in one
process (tests, multi-app setups) never collide.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

from tokenwire.config.settings import GENAI_TIME_BUCKETS, GENAI_TOKEN_BUCKETS
from tokenwire.events import TERMINAL_STATUSES, ErrorCode, RunStatus
from tokenwire.telemetry.attribution import ATTRIBUTION, Attribution
from tokenwire.telemetry.record import RunRecord

if TYPE_CHECKING:
    from tokenwire.reliability.stats import Reliability

__all__ = ["TIME_BUCKETS", "TOKEN_BUCKETS", "GatewayMetrics", "ReliabilityCollector"]

#: gen_ai.client.operation.{duration,time_to_first_chunk,time_per_output_chunk}
TIME_BUCKETS = GENAI_TIME_BUCKETS
#: gen_ai.client.token.usage
TOKEN_BUCKETS = GENAI_TOKEN_BUCKETS
#: Delivery lag is the gateway's own latency: finer than a model's.
#: A user's score is in [0, 1]: thumbs are 0 and 1, finer scales land in tenths.
FEEDBACK_BUCKETS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class GatewayMetrics:
    """``time_buckets``/``token_buckets``: the histograms' boundaries (``Settings``'
    ``metrics_time_buckets``/``metrics_token_buckets``)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        time_buckets: Sequence[float] = TIME_BUCKETS,
        token_buckets: Sequence[float] = TOKEN_BUCKETS,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.ttft = Histogram(
            "gen_ai_client_operation_time_to_first_chunk_seconds",
            "Time to the first non-empty content chunk of a stream.",
            ATTRIBUTION,
            buckets=time_buckets,
            registry=r,
        )
        self.per_chunk = Histogram(
            "gen_ai_client_operation_time_per_output_chunk_seconds",
            "Time between consecutive output chunks after the first.",
            ATTRIBUTION,
            buckets=time_buckets,
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
            (*ATTRIBUTION, "status"),
            buckets=time_buckets,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens used by a run, by gen_ai_token_type (input/output); estimated=true when "
            "the provider reported none and tokenwire estimated them.",
            (*ATTRIBUTION, "gen_ai_token_type", "estimated"),
            buckets=token_buckets,
            registry=r,
        )
        self.runs = Counter(
            "tokenwire_runs", "Finished runs by status.", (*ATTRIBUTION, "status"), registry=r
        )
        self.errors = Counter(
            "tokenwire_errors",
            "Runs that ended with an error, by error_type (the run's error code).",
            (*ATTRIBUTION, "error_type"),
            registry=r,
        )
        self.cost = Counter(
            "tokenwire_cost_usd",
            "Estimated spend in USD (priced models only).",
            ATTRIBUTION,
            registry=r,
        )
        self.stalls = Counter(
            "tokenwire_stalls",
            "Inter-token gaps over the stall threshold.",
            ATTRIBUTION,
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
        self.rollout_transitions = Counter(
            "tokenwire_rollout_transitions",
            "Rollout state changes: a variant stepped up, promoted, rolled back, paused or "
            "resumed (variant=streaming: the streaming guard switching to or from batch).",
            ("route", "variant", "to", "reason"),
            registry=r,
        )
        self.tokens_after_disconnect = Counter(
            "tokenwire_tokens_after_disconnect",
            "Token chunks generated while no client was subscribed (paid for, unread).",
            ("route", "gen_ai_request_model"),
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
        self.feedback = Histogram(
            "tokenwire_feedback_score",
            "Users' scores of runs (0 to 1; thumbs down 0, up 1), by route and cohort.",
            ("route", "cohort"),
            buckets=FEEDBACK_BUCKETS,
            registry=r,
        )
        self.active = Gauge(
            "tokenwire_active_streams", "Runs generating right now.", ("route",), registry=r
        )
        #: The attributions whose series exist (see :meth:`initialise`).
        self._known: set[Attribution] = set()

    def orphan_ended(self, labels: Attribution) -> None:
        """A dead replica's run, ended by this replica's sweeper (see ``Telemetry``)."""
        if labels not in self._known:
            self.initialise((labels,))
        self.runs.labels(*labels, RunStatus.FAILED.value).inc()
        self.errors.labels(*labels, ErrorCode.INCOMPLETE_STREAM.value).inc()

    def observe(self, record: RunRecord) -> None:
        """Everything about one finished run; called off the token path."""
        labels = Attribution.of(record)
        if labels not in self._known:
            self.initialise((labels,))
        trace = {"trace_id": record.trace_id}
        if record.ttft_s is not None and not record.ttft_observed:
            self.ttft.labels(*labels).observe(record.ttft_s, trace)
        observe_many(self.per_chunk.labels(*labels), record.gaps, trace)
        if record.delivery_lags:
            observe_many(self.delivery_lag.labels(record.route), record.delivery_lags)
        self.duration.labels(*labels, record.status).observe(record.duration_s, trace)
        estimated = "true" if record.estimated else "false"
        self.token_usage.labels(*labels, "input", estimated).observe(record.input_tokens)
        self.token_usage.labels(*labels, "output", estimated).observe(record.output_tokens)
        self.runs.labels(*labels, record.status).inc()
        if record.error_code:
            self.errors.labels(*labels, record.error_code).inc()
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
            self.tokens_after_disconnect.labels(record.route, labels.gen_ai_request_model).inc(
                record.tokens_after_disconnect
            )

    def feedback_given(self, route: str, cohort: str, score: float) -> None:
        """A user's score of a run (``POST /v1/runs/{id}/feedback``); ``route`` and
        ``cohort`` are a run's, so bounded like every run label."""
        self.feedback.labels(route, cohort).observe(score)

    def first_token(self, record: RunRecord) -> None:
        """A live run's first token: its TTFT, observed once, while it streams (``observe``
        then skips it: ``record.ttft_observed``). Labelled as ``observe`` labels."""
        if record.ttft_s is None:
            return
        labels = Attribution.of(record)
        if labels not in self._known:
            self.initialise((labels,))
        self.ttft.labels(*labels).observe(record.ttft_s, {"trace_id": record.trace_id})

    def initialise(self, attributions: Iterable[Attribution]) -> None:
        """Create the series of each attribution at zero — the gateway's known ones before
        any run, any other at its first run — so ``rate()`` counts a series' first increase
        and dashboards show 0 rather than no data: every status and error type, cost and
        stalls, the histograms of a completed run with reported usage."""
        for labels in attributions:
            self._known.add(labels)
            for status in sorted(TERMINAL_STATUSES):
                self.runs.labels(*labels, status.value)
            for code in ErrorCode:
                self.errors.labels(*labels, code.value)
            self.cost.labels(*labels)
            self.stalls.labels(*labels)
            self.ttft.labels(*labels)
            self.per_chunk.labels(*labels)
            self.duration.labels(*labels, RunStatus.COMPLETED.value)
            for kind in ("input", "output"):
                self.token_usage.labels(*labels, kind, "false")
            self.tokens_after_disconnect.labels(labels.route, labels.gen_ai_request_model)
            self.active.labels(labels.route)
            self.feedback.labels(labels.route, labels.cohort)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry rendered for a scraper's ``Accept`` header, and its content type:
        OpenMetrics (with the exemplars) when asked for, else the classic text format."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    # -- as an exporter behind the telemetry pipeline ---------------------------------------
    name = "prometheus"

    def export(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self.observe(record)

    def close(self) -> None:
        return None


def observe_many(
    histogram: Histogram, values: Sequence[float], exemplar: dict[str, str] | None = None
) -> None:
    """``observe`` each value, but count them into buckets first: one lock and one add per
    bucket instead of per value (a run has a gap per token). ``exemplar`` goes on the bucket
    of the largest value, the one worth a look. Relies on the child's
    ``_upper_bounds``/``_buckets``/``_sum``; falls back to plain ``observe`` without them."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    if not values:
        return
    counts = Tally(bisect_left(bounds, value) for value in values)
    for index, count in counts.items():
        buckets[index].inc(count)
    total.inc(sum(values))
    if exemplar:
        largest = max(values)
        buckets[bisect_left(bounds, largest)].set_exemplar(Exemplar(exemplar, largest, time.time()))


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
