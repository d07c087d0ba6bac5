"""The operator's API: live runs to watch and halt, and live telemetry for the dashboard.

- ``GET /v1/runs?status=running`` — the runs of this process (live ones by default), newest
  first, with age, tokens so far, subscribers and key alias. Halting is the native
  ``POST /v1/runs/{id}/cancel`` with ``{"reason": ...}``; watching is the native rejoin
  ``GET /v1/runs/{id}/stream?after=0``.
- ``GET /v1/moderation/approvals`` — the runs waiting for a human: ended ``interrupted``,
  the newest run on their thread, with the tool calls their ``approval.required`` events
  ask about. Deciding is the threads API's ``POST /v1/threads/{id}/approvals``.
- ``GET /v1/telemetry/summary`` — time-bucketed TTFT, inter-token latency, tokens/s, error
  rate by code and cost by route and model (see :mod:`tokenwire.ui.summary`).
- ``GET /v1/telemetry/stream`` — the same summary pushed over SSE every ``interval``
  seconds, and sooner when a run finishes.

These endpoints need the moderator role (the access table, ``tokenwire.security.access``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query
from starlette.responses import JSONResponse, Response

from tokenwire.events import EventType, RunStatus
from tokenwire.gateway import Gateway
from tokenwire.runs.run import Run
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem
from tokenwire.server.sse import EventStreamResponse, IteratorFeed
from tokenwire.server.validation_api import ProblemRoute
from tokenwire.ui.summary import Window, summarize

__all__ = ["create_console_router"]

#: How often the telemetry stream looks for a finished run between two regular pushes.
_POLL_SECONDS = 0.2


def create_console_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(route_class=guarded(ProblemRoute, gateway))

    @router.get("/v1/runs", responses={422: {}})
    async def list_runs(
        status: Annotated[
            str, Query(description="A run status, or 'all'. Default: live runs only.")
        ] = "running",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Response:
        if status != "all" and status not in {s.value for s in RunStatus}:
            allowed = ", ".join(["all", *RunStatus])
            return problem(422, "Invalid status", f"status must be one of: {allowed}")
        now = time.time()
        runs = [r for r in gateway.registry if status == "all" or r.status == status]
        runs.sort(key=lambda r: r.created_at, reverse=True)
        return JSONResponse({"runs": [run_row(r, now) for r in runs[:limit]]})

    @router.get("/v1/moderation/approvals")
    async def list_approvals(
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> Response:
        waiting = waiting_for_approval(gateway.registry)
        now = time.time()
        return JSONResponse({"runs": [approval_row(r, now) for r in waiting[:limit]]})

    @router.get("/v1/telemetry/summary", responses={422: {}})
    async def telemetry_summary(
        window: Annotated[float, Query(gt=0, le=86400)] = 300.0,
        bucket: Annotated[float, Query(gt=0, le=3600)] = 5.0,
    ) -> Response:
        chosen = _window(window, bucket)
        if isinstance(chosen, Response):
            return chosen
        return JSONResponse(current_summary(gateway, chosen))

    # Not in the OpenAPI schema: an endless event stream has no response a schema-driven
    # client (or fuzzer) could wait for.
    @router.get("/v1/telemetry/stream", include_in_schema=False)
    async def telemetry_stream(
        window: Annotated[float, Query(gt=0, le=86400)] = 300.0,
        bucket: Annotated[float, Query(gt=0, le=3600)] = 5.0,
        interval: Annotated[float, Query(ge=0.2, le=60)] = 1.0,
    ) -> Response:
        chosen = _window(window, bucket)
        if isinstance(chosen, Response):
            return chosen
        settings = gateway.settings
        return EventStreamResponse(
            IteratorFeed(_summaries(gateway, chosen, interval)),
            heartbeat_seconds=settings.heartbeat_seconds,
            max_seconds=settings.max_stream_seconds,
        )

    return router


def run_row(run: Run, now: float) -> dict[str, Any]:
    """One line of the moderator's runs table."""
    recorder = run.recorder
    return {
        "run_id": run.id,
        "route": run.route,
        "status": run.status.value,
        "age_s": round((run.ended_at or now) - run.created_at, 3),
        "created_at": run.created_at,
        "tokens": recorder.token_events if recorder is not None else 0,
        "subscribers": run.subscribers,
        "key_alias": run.metadata.get("key_alias"),
        "on_disconnect": run.on_disconnect,
        "trace_id": run.trace_id,
    }


def waiting_for_approval(runs: Iterable[Run]) -> list[Run]:
    """Interrupted runs still pending, newest first: a later run on the same thread has
    resumed (or replaced) an earlier one, whose approvals are then no longer open."""
    newest: dict[str, Run] = {}
    for run in runs:
        if run.thread_id is None:
            continue
        seen = newest.get(run.thread_id)
        if seen is None or run.created_at > seen.created_at:
            newest[run.thread_id] = run
    waiting = [r for r in newest.values() if r.status == RunStatus.INTERRUPTED and _approvals(r)]
    return sorted(waiting, key=lambda r: r.created_at, reverse=True)


def approval_row(run: Run, now: float) -> dict[str, Any]:
    """One run of the approvals list: its runs-table row, thread and pending calls."""
    return {**run_row(run, now), "thread_id": run.thread_id, "approvals": _approvals(run)}


def _approvals(run: Run) -> list[dict[str, Any]]:
    return [e.data for e in run.log.since(0) if e.type == EventType.APPROVAL_REQUIRED]


def current_summary(gateway: Gateway, window: Window) -> dict[str, Any]:
    recent = gateway.telemetry.recent
    now = time.time()
    # Live runs come from the registry, not the Prometheus gauge: it is per process and
    # exact, and tells which route each run belongs to.
    active = Counter(run.route for run in gateway.registry.live())
    return summarize(
        recent.records(now - window.seconds),
        now=now,
        window=window,
        active=active,
        version=recent.version,
    )


async def _summaries(gateway: Gateway, window: Window, interval: float) -> AsyncIterator[bytes]:
    recent = gateway.telemetry.recent
    loop = asyncio.get_running_loop()
    while True:
        version = recent.version
        live = len(gateway.registry.live())
        yield _event(current_summary(gateway, window))
        due = loop.time() + interval
        # Push early when a run finishes or starts, so the dashboard follows runs closely.
        while loop.time() < due and recent.version == version:
            if len(gateway.registry.live()) != live:
                break
            await asyncio.sleep(_POLL_SECONDS)


def _event(summary: dict[str, Any]) -> bytes:
    return b"event: summary\ndata: " + orjson.dumps(summary) + b"\n\n"


def _window(seconds: float, bucket: float) -> Window | Response:
    try:
        return Window(seconds=seconds, bucket=bucket)
    except ValueError as exc:
        return problem(422, "Invalid window", str(exc))
