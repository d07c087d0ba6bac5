"""A run's LangSmith trace: the route's name, the gateway's ids, the gateway's clock.

When LangSmith tracing is on (``LANGSMITH_TRACING``), every run's config gets a
``GatewayTracer`` of its own — with the route's masking client on a masked route
(``MaskedTracing``), else LangSmith's process-wide client — so LangChain adds no tracer
of its own. The root run is named after the route and every run of the trace carries
``trace_id``, ``route``, ``key_alias`` and ``cohort`` in its metadata (set here, over any a
client sent), beside ``tokenwire_run_id``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from langchain_core.runnables import RunnableConfig

from tokenwire.langchain.callbacks import with_handler
from tokenwire.langchain.tracing import GatewayTracer, TraceClock
from tokenwire.pipeline.masking import Masking
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run

__all__ = ["traced"]


def traced(
    config: RunnableConfig,
    run: Run,
    recorder: RunRecorder,
    masking: Masking | None,
    received: tuple[float, datetime],
) -> tuple[RunnableConfig, TraceClock | None]:
    """``config`` for ``run`` with its gateway ids in the metadata, and, with tracing on,
    its tracer and the clock to release when the run has ended. ``received``: the
    gateway's clock and the wall clock read together when the request was received."""
    config = config.copy()
    config.setdefault("run_name", run.route)  # a client's own run_name wins
    config["metadata"] = {**config.get("metadata", {}), **_identity(run)}
    from langsmith.utils import tracing_is_enabled

    if not tracing_is_enabled():
        return config, None
    clock = _trace_clock(run, recorder, received)
    client: Any = masking.tracing.client() if masking is not None else None
    tracer = GatewayTracer(client=client, clock=clock)
    return with_handler(config, tracer), clock


def _identity(run: Run) -> dict[str, str]:
    return {
        "trace_id": run.trace_id,
        "route": run.route,
        "key_alias": str(run.metadata.get("key_alias", "anonymous")),
        "cohort": run.cohort,
        "variant": run.variant,
    }


def _trace_clock(run: Run, recorder: RunRecorder, received: tuple[float, datetime]) -> TraceClock:
    at, wall = received
    # The wall-clock time the recorder's TTFT counts from (the same reading, or earlier).
    # TTFT counts from the request's arrival (recorder.arrived_at), as the trace does.
    started = wall - timedelta(seconds=at - recorder.arrived_at)

    def first_token() -> timedelta | None:
        first = recorder.first_token_at
        return None if first is None else timedelta(seconds=first - recorder.arrived_at)

    return TraceClock(started, first_token, root_id=UUID(hex=run.id))
