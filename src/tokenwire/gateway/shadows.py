"""Shadow runs: a copy of a request's input run in the background on the shadow target.

A shadow is a run like any other — recorder, stages, telemetry, audit — with cohort
``shadow``, but its log is a private one (never the broker's, so no stream, replica or
``GET /v1/runs`` can reach it), it is never registered, its ``@action`` calls execute
nothing, and it is bounded: the shadow's budget, its ``total_timeout`` and at most
``max_concurrent`` at once (more are skipped, and counted in the log).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import secrets
import uuid
from collections.abc import Callable
from typing import Any

from langchain_core.runnables import RunnableConfig

from tokenwire.broker.memory import MemoryEventLog
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.routes import Route
from tokenwire.runs.run import Run

__all__ = ["Shadows"]

log = logging.getLogger("tokenwire.rollout")

Launch = Callable[[Run, Route, Any, RunnableConfig, Any], None]


class Shadows:
    def __init__(self, max_events: int) -> None:
        self._max_events = max_events
        self.live: set[Run] = set()
        self.skipped = 0

    def start(
        self,
        stable: Route,
        primary: Run,
        value: Any,
        config: RunnableConfig,
        received: Any,
        launch: Launch,
    ) -> Run | None:
        """Start the shadow of ``primary`` (a start of ``stable``, a route with a shadow)."""
        plan = stable.rollout
        spec = plan.policy.shadow if plan is not None else None
        if plan is None or spec is None or plan.shadow is None:
            return None
        if len(self.live) >= spec.max_concurrent:
            self.skipped += 1
            log.info("route %r: shadow skipped, %d in flight", stable.name, len(self.live))
            return None
        try:
            value = copy.deepcopy(value)  # the shadow must not share what the run changes
        except Exception:
            log.info("route %r: shadow skipped, its input cannot be copied", stable.name)
            return None
        bound = RunBudget(max_output_tokens=spec.max_output_tokens, max_cost_usd=spec.max_cost_usd)
        timeout = spec.total_timeout
        if plan.shadow.total_timeout is not None:
            timeout = min(timeout, plan.shadow.total_timeout)
        route = dataclasses.replace(
            plan.shadow, budget=bound.tighter(plan.shadow.budget), total_timeout=timeout
        )
        run_id = uuid.uuid4().hex
        run = Run(
            id=run_id,
            route=stable.name,
            log=MemoryEventLog(run_id, self._max_events),
            on_disconnect="continue",
            grace_seconds=0.0,
            trace_id=secrets.token_hex(16),
            metadata={"key_alias": primary.owner, "shadow_of": primary.id},
            owner=primary.owner,
            protocol=primary.protocol,
            key_label=primary.key_label,
            cohort="shadow",
            variant="shadow",
        )
        launch(run, route, value, config.copy(), received)
        self.live.add(run)
        if run.task is not None:
            run.task.add_done_callback(lambda _: self.live.discard(run))
        return run

    async def aclose(self) -> None:
        """Cancel the shadows still running (each still ends, and is measured)."""
        for run in list(self.live):
            run.cancel("gateway shutting down")
        tasks = [run.task for run in self.live if run.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
