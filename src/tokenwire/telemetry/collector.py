"""The gateway's telemetry: a recorder per run in, one ``RunRecord`` per run out."""

from __future__ import annotations

import dataclasses
import functools
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

from tokenwire.broker.base import EventLog
from tokenwire.config import Settings
from tokenwire.langchain.adapter import model_name
from tokenwire.langchain.steps import Step
from tokenwire.pipeline.masking import shown_input
from tokenwire.runs.recorder import RunRecorder
from tokenwire.telemetry.attribution import OTHER, Attribution, bounded_alias, provider_of
from tokenwire.telemetry.exporters import exporter_names, imported_exporter, wandb_exporter
from tokenwire.telemetry.jsonl import JsonlExporter
from tokenwire.telemetry.metrics import GatewayMetrics
from tokenwire.telemetry.pipeline import Exporter, TelemetryPipeline
from tokenwire.telemetry.recent import RecentRuns
from tokenwire.telemetry.record import RunRecord, cohort_label
from tokenwire.usage.estimate import estimator
from tokenwire.usage.loop_lag import LoopLag
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock, summarize_gaps

if TYPE_CHECKING:
    from tokenwire.routes import Route
    from tokenwire.runs.run import Run

__all__ = ["Telemetry"]


class Telemetry:
    """Owns the Prometheus metrics, the exporter pipeline and the price table."""

    def __init__(
        self,
        settings: Settings,
        prices: PriceTable | None = None,
        exporters: list[Exporter] | None = None,
        clock: Clock = perf_counter,
    ) -> None:
        self.settings = settings
        #: Records keep what runs showed (input, output, tool steps): an exporter asked.
        self._capture_io = bool(settings.otlp_endpoint and settings.otlp_capture_io)
        #: What run timings (TTFT, inter-token gaps, duration) are read from.
        self.clock = clock
        #: When the loop was too busy to read a provider (started with the gateway).
        self.loop_lag = LoopLag(clock)
        self.prices = prices or PriceTable()
        self.metrics = GatewayMetrics(
            time_buckets=settings.metrics_time_buckets,
            token_buckets=settings.metrics_token_buckets,
        )
        self.recent = RecentRuns()
        #: How tokens a provider did not report are estimated (budgets count with it too).
        self.estimate = estimator(settings.token_estimator)  # type: ignore[arg-type]
        # ``Gauge.labels`` looks its child up under a lock: once per route is enough.
        self._active: dict[str, Any] = {}
        chosen: list[Exporter] = [self.metrics, self.recent, *(exporters or [])]
        names = exporter_names(settings)  # [telemetry] exporters, checked
        if "jsonl" in names:
            chosen.append(JsonlExporter(settings.telemetry_jsonl))
        if "otlp" in names:
            from tokenwire.telemetry.otlp import OtlpExporter, otlp_headers

            chosen.append(
                OtlpExporter(
                    settings.otlp_endpoint,
                    stall_threshold=settings.stall_threshold_seconds,
                    # A span flush then a metric flush at close: both inside the grace.
                    timeout=max(settings.shutdown_grace_seconds / 3, 0.5),
                    on_drop=self._count_drop,
                    metrics=settings.otlp_metrics,
                    headers=otlp_headers(settings.otlp_headers.get_secret_value()),
                    project=settings.otlp_project,
                )
            )
        if "wandb" in names:
            chosen.append(wandb_exporter(settings))
        chosen += [imported_exporter(name) for name in names if ":" in name]
        self.pipeline = TelemetryPipeline(
            chosen,
            max_queue=settings.telemetry_queue_size,
            on_drop=self._count_drop,
            grace=settings.shutdown_grace_seconds,
        )

    def recorder(
        self,
        run: Run,
        route: Route,
        input: Any,
        arrived_at: float,
        mask_tool_io: Callable[[Any], Any] | None = None,
        mask_custom: Callable[[Any], Any] | None = None,
    ) -> RunRecorder:
        """``run``'s recorder: launched now, for a request that arrived at ``arrived_at``."""
        log: EventLog = run.log
        return RunRecorder(
            log,
            arrived_at=arrived_at,
            loop_lag=self.loop_lag,
            on_first_token=functools.partial(self._first_token, run, route),
            mask_tool_io=mask_tool_io,
            mask_custom=mask_custom,
            prices=self.prices,
            stall_threshold=self.settings.stall_threshold_seconds,
            estimate=self.estimate,
            input=input,
            clock=self.clock,
        )

    def _first_token(self, run: Run, route: Route, recorder: RunRecorder) -> None:
        """TTFT into the histogram now, while the run streams: one observation per run
        (a live run's first token shows in ``/metrics``); the run-end record skips it."""
        self.metrics.first_token(self.record(run, route, recorder))

    def initialise(self, routes: Iterable[Route], key_labels: Iterable[str]) -> None:
        """Create every route's series at zero for each caller label the configuration
        knows (and every allow-listed one), as its runs will be labelled before any ran:
        the route's model as the gateway names it at launch, the native protocol."""
        allowed = self.settings.metrics_key_aliases
        aliases = {self.key_alias(label) for label in key_labels} | set(allowed)
        if allowed:
            aliases.add(OTHER)
        attributions = []
        for route, cohort in _cohorts(routes):
            model = model_name(route.runnable)
            known = Attribution(
                gen_ai_operation_name="chat",
                gen_ai_provider_name=provider_of(model, route.runnable),
                gen_ai_request_model=model or "unknown",
                route=route.name,
                cohort=cohort,
                protocol="native",
                key_alias="",
            )
            attributions += [known._replace(key_alias=alias) for alias in sorted(aliases)]
        self.metrics.initialise(attributions)

    def key_alias(self, label: str) -> str:
        """The ``key_alias`` a caller labelled ``label`` (``Principal.label``) gets."""
        return bounded_alias(label, self.settings.metrics_key_aliases)

    def orphan_ended(self, run: Run) -> None:
        """A run whose replica died, ended by this one: a failed run (``incomplete_stream``)
        that its own replica can no longer count. Labelled with what the cluster keeps."""
        labels = Attribution(
            "chat",
            provider_of(run.model),
            run.model or "unknown",
            run.route,
            cohort_label(run.cohort, run.variant),
            run.protocol,
            self.key_alias(run.key_label),
        )
        self.metrics.orphan_ended(labels)

    def run_started(self, route: Route) -> None:
        self._active_runs(route.name).inc()

    def run_finished(self, run: Run, route: Route) -> None:
        """Called once per run, when its task is done (never on the token path)."""
        self._active_runs(route.name).dec()
        if run.recorder is not None:
            self.pipeline.submit(self.record(run, route, run.recorder))

    def record(self, run: Run, route: Route, recorder: RunRecorder) -> RunRecord:
        usage = recorder.usage_data()
        itl = summarize_gaps(recorder.gaps, self.settings.stall_threshold_seconds)
        # ``run.model``: the route's model, read once when the gateway launched the run.
        model = run.model or (recorder.models[0] if recorder.models else None)
        error = run.summary.get("error") or {}
        lag_p95, lag_max = recorder.delivery.summary()
        return RunRecord(
            run_id=run.id,
            trace_id=run.trace_id,
            route=route.name,
            model=model,
            provider=recorder.providers.get(model or "") or provider_of(model, route.runnable),
            key_alias=self.key_alias(run.key_label),
            cohort=run.cohort,
            variant=run.variant,
            status=run.status.value,
            error_code=error.get("code"),
            started_at=run.created_at,
            duration_s=(run.ended_at or time.time()) - run.created_at,
            ttft_s=recorder.ttft,
            itl_p50_s=itl.p50,
            itl_p95_s=itl.p95,
            itl_max_s=itl.max,
            stalls=len(recorder.stall_gaps),
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            cached_input_tokens=usage["cached_input_tokens"],
            estimated=usage["estimated"],
            cost_usd=usage["cost_usd"],
            token_events=recorder.token_events,
            tokens_after_disconnect=run.tokens_after_disconnect(),
            protocol=run.protocol,
            fallback_used=run.summary.get("fallback_used"),
            guardrail_actions=tuple((g["action"], g["rule"]) for g in recorder.guardrail_actions),
            actions=_action_outcomes(run),
            gaps=recorder.gaps,
            parent_span_id=run.parent_span_id,
            chat_model=run.model is not None,
            end_reason=_end_reason(run, error),
            steps=_relative_steps(recorder.steps.steps, recorder.started_at, self._capture_io),
            **self._shown(run, route, recorder),
            queue_s=recorder.queue,
            delivery_lag_p95_s=lag_p95,
            delivery_lag_max_s=lag_max,
            stall_gaps=tuple(recorder.stall_gaps),
            # A copy: a subscriber may still write (and append) after the run ended.
            delivery_lags=array("d", recorder.delivery.lags),
            ttft_observed=recorder.first_token_reported,
            disconnected=run.abandoned,
        )

    def _shown(self, run: Run, route: Route, recorder: RunRecorder) -> dict[str, Any]:
        """The input and output as the client sent and saw them, when an exporter keeps
        them (opt-in: they are user content, masked by the route's one policy)."""
        if not self._capture_io:
            return {}
        return {
            "shown_input": shown_input(route.masking, recorder.input),
            "shown_output": run.delivered_output(),
        }

    def _active_runs(self, route: str) -> Any:
        child = self._active.get(route)
        if child is None:
            child = self._active[route] = self.metrics.active.labels(route)
        return child

    def _count_drop(self, exporter: str, count: int) -> None:
        self.metrics.dropped.labels(exporter).inc(count)


def _cohorts(routes: Iterable[Route]) -> Iterator[tuple[Route, str]]:
    """Each route (a variant's or shadow's, with its own model) and the ``cohort`` labels
    its runs can have: ``stream``, and with a rollout ``batch``, each variant's and
    ``shadow``."""
    for route in routes:
        yield route, "stream"
        plan = route.rollout
        if plan is None:
            continue
        policy = plan.policy
        batches = policy.streaming_percent < 100 or policy.fallback_to_batch_error_rate is not None
        modes = ("stream", "batch") if batches else ("stream",)
        if batches:
            yield route, "batch"
        for name, variant in plan.variants.items():
            for mode in modes:
                yield dataclasses.replace(variant, name=route.name), f"{name}:{mode}"
        if plan.shadow is not None:
            yield dataclasses.replace(plan.shadow, name=route.name), "shadow"


def _end_reason(run: Run, error: dict[str, Any]) -> str | None:
    message = error.get("message")
    if isinstance(message, str) and message:
        return message
    return run.cancel_reason if run.status.value == "cancelled" else None


def _relative_steps(steps: list[Step], origin: float, shown: bool) -> tuple[Step, ...]:
    """The steps with times in seconds from the run's start (the record's time base), and
    what tool steps showed only when an exporter keeps it."""
    return tuple(
        dataclasses.replace(
            step,
            started=step.started - origin,
            ended=None if step.ended is None else step.ended - origin,
            input=step.input if shown else None,
            output=step.output if shown else None,
        )
        for step in steps
    )


def _action_outcomes(run: Run) -> tuple[tuple[str, str, int], ...]:
    outcomes = run.actions.outcomes if run.actions is not None else {}
    return tuple((name, outcome, calls) for (name, outcome), calls in outcomes.items())
