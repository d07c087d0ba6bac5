"""The gateway's side of rollouts: assigning each start, feeding the analysis, reporting.

``RouteRollouts`` wraps :class:`tokenwire.rollout.Rollouts` for the gateway's routes: the
state lives in Redis with a cluster (every replica, across restarts), else in memory. A
start is assigned from the caller's sticky value; a finished run becomes an ``Outcome``;
each transition is a log line (the controller's), a metric, an audit entry and — with
``alert_webhook`` — a POST, sent in the background so nothing waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from tokenwire.audit.trail import AuditTrail
from tokenwire.cluster.replica import Cluster
from tokenwire.rollout import Assignment, Outcome, Rollouts, Transition
from tokenwire.rollout.assignment import header_map, request_headers
from tokenwire.rollout.store import MemoryStore, RedisStore, StateStore
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.security.principal import ANONYMOUS
from tokenwire.telemetry.metrics import GatewayMetrics

__all__ = ["RouteRollouts"]

log = logging.getLogger("tokenwire.rollout")

_WEBHOOK_TIMEOUT_SECONDS = 5.0


class RouteRollouts:
    """The rollouts of ``routes`` that have one (``Gateway.rollouts``)."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        cluster: Cluster | None,
        metrics: GatewayMetrics,
        audit: AuditTrail | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plans = {r.name: r.rollout for r in routes if r.rollout is not None}
        policies = {name: plan.policy for name, plan in self.plans.items()}
        store: StateStore = MemoryStore()
        if cluster is not None:
            store = RedisStore(cluster.broker.client, cluster.broker.keys.rollout)
        self._metrics = metrics
        self._audit = audit
        self._alerts: set[asyncio.Task[None]] = set()
        self.rollouts = Rollouts(policies, store, clock=clock, on_transition=self._report)

    def assign(self, route: Route, owner: str | None, thread_id: str | None) -> Assignment:
        """Where a start of ``route`` by ``owner`` goes (``stable``/``stream`` without a
        rollout)."""
        plan = route.rollout
        if plan is None:
            return Assignment()
        key = owner if owner and owner != ANONYMOUS.alias else None
        headers = header_map(request_headers.get(), plan.policy.sticky_header)
        return self.rollouts.assign(route.name, key=key, thread_id=thread_id, headers=headers)

    def finished(self, run: Run) -> None:
        """A run of a route with a rollout ended: its outcome joins the analysis."""
        if run.route not in self.plans:
            return
        summary = run.summary
        timings = summary.get("timings") or {}
        usage = summary.get("usage") or {}
        error = summary.get("error") or {}
        outcome = Outcome(
            status=run.status.value,
            error_code=error.get("code"),
            ttft_s=_seconds(timings.get("ttft_ms")),
            itl_p95_s=_seconds(timings.get("itl_p95_ms")),
            cost_usd=usage.get("cost_usd"),
        )
        self.rollouts.observe(run.route, run.variant, run.cohort, outcome)

    def record_feedback(self, run: Run, score: float) -> None:
        """A user's ``score`` (0-1) of ``run`` — what ``POST /v1/runs/{id}/feedback`` calls
        (a run of a route without a rollout is ignored)."""
        variant = getattr(run, "variant", "stable")  # a RemoteRun: its variant is not kept
        self.rollouts.record_feedback(run.route, variant, score)

    async def start(self) -> None:
        await self.rollouts.start()

    async def aclose(self) -> None:
        await self.rollouts.aclose()
        await asyncio.gather(*self._alerts, return_exceptions=True)

    def _report(self, change: Transition) -> None:
        reason = change.reason
        self._metrics.rollout_transitions.labels(
            change.route, change.variant, change.after, reason
        ).inc()
        if self._audit is not None:
            self._audit.note(_audit_entry(change))
        plan = self.plans.get(change.route)
        url = plan.policy.alert_webhook if plan is not None else None
        if url:
            task = asyncio.get_running_loop().create_task(_post(url, change.as_json()))
            self._alerts.add(task)
            task.add_done_callback(self._alerts.discard)


def _audit_entry(change: Transition) -> dict[str, Any]:
    return {
        "run_id": f"rollout-{uuid.uuid4().hex}",
        "route": change.route,
        "status": f"rollout.{change.after}",
        "key_alias": change.actor,
        "created_at": change.at,
        "ended_at": change.at,
        "rollout": change.as_json(),
    }


async def _post(url: str, body: dict[str, Any]) -> None:
    try:
        async with httpx.AsyncClient(timeout=_WEBHOOK_TIMEOUT_SECONDS) as client:
            response = await client.post(url, json={"event": "rollout.transition", **body})
            response.raise_for_status()
    except Exception as exc:  # an alert that cannot be sent is logged, never raised
        log.warning("rollout alert to %s failed: %r", url, exc)


def _seconds(ms: Any) -> float | None:
    return ms / 1000 if isinstance(ms, int | float) else None
