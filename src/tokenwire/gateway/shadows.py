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
        #: Route name → its shadows running now (``max_concurrent`` is per route).
        self._live: dict[str, set[Run]] = {}
        self.skipped = 0

    def start(
        self,
        stable: Route,
        target: Route | None,
        primary: Run,
        value: Any,
        config: RunnableConfig,
        received: Any,
        launch: Launch,
    ) -> Run | None:
        """Start the shadow of ``primary`` (a start of ``stable``, a route with a shadow)
        on ``target`` (the shadow route with the request's options applied). Never raises:
        whatever goes wrong with a shadow is logged and the shadow is skipped, never the
        primary's failure."""
        try:
            return self._start(stable, target, primary, value, config, received, launch)
        except Exception:
            self.skipped += 1
            log.exception("route %r: the shadow could not be started", stable.name)
            return None

    def _start(
        self,
        stable: Route,
        target: Route | None,
        primary: Run,
        value: Any,
        config: RunnableConfig,
        received: Any,
        launch: Launch,
    ) -> Run | None:
        plan = stable.rollout
        spec = plan.policy.shadow if plan is not None else None
        if spec is None or target is None:
            return None
        live = self._live.setdefault(stable.name, set())
        if len(live) >= spec.max_concurrent:  # each route's own bound
            self.skipped += 1
            log.info("route %r: shadow skipped, %d in flight", stable.name, len(live))
            return None
        try:
            value = copy.deepcopy(value)  # the shadow must not share what the run changes
        except Exception:
            log.info("route %r: shadow skipped, its input cannot be copied", stable.name)
            return None
        bound = RunBudget(max_output_tokens=spec.max_output_tokens, max_cost_usd=spec.max_cost_usd)
        timeout = spec.total_timeout
        if target.total_timeout is not None:
            timeout = min(timeout, target.total_timeout)
        route = dataclasses.replace(
            target, budget=bound.tighter(target.budget), total_timeout=timeout
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
        live.add(run)
        if run.task is not None:
            run.task.add_done_callback(lambda _: live.discard(run))
        return run

    @property
    def live(self) -> set[Run]:
        """The shadows running now, on every route."""
        return set().union(*self._live.values())

    async def aclose(self) -> None:
        """Cancel the shadows still running (each still ends, and is measured)."""
        running = self.live
        for run in running:
            run.cancel("gateway shutting down")
        tasks = [run.task for run in running if run.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
