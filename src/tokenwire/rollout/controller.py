"""``Rollouts``: the routes' rollouts — assignments, the analysis's windows, the state.

Assignments are answered from a cached copy of each route's state (no round trip on the
request's path); the cache is refreshed from the store every ``refresh_seconds`` and after
every change. Outcomes and feedback go into this process's windows, and each one schedules
an analysis of its route (one at a time per route), whose changes are saved over the
version read (a replica that lost the race reads again and analyses that), then reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from tokenwire.rollout.assignment import Assignment, bucket, pick_variant, sticky_value
from tokenwire.rollout.decisions import Action, Transition, act, analyse
from tokenwire.rollout.spec import STABLE, RolloutPolicy
from tokenwire.rollout.state import RolloutState, initial_state, reconciled
from tokenwire.rollout.store import MemoryStore, StateStore
from tokenwire.rollout.window import Outcome, Window

__all__ = ["Rollouts", "Transition", "UnknownVariant"]

log = logging.getLogger("tokenwire.rollout")

#: Saves tried before an analysis gives up to the replicas it keeps losing to.
_SAVE_TRIES = 5


class UnknownVariant(KeyError):
    """A manual action named a variant the route's rollout does not have."""


class Rollouts:
    """The rollouts of ``policies`` (by route), their states in ``store``.

    ``clock``: epoch seconds (tests script it); ``on_transition``: called with each change
    (the gateway logs, counts, audits and announces it)."""

    def __init__(
        self,
        policies: Mapping[str, RolloutPolicy],
        store: StateStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_transition: Callable[[Transition], None] | None = None,
        refresh_seconds: float = 1.0,
    ) -> None:
        self.policies = dict(policies)
        self.store = store or MemoryStore()
        self.clock = clock
        self.on_transition = on_transition
        self.refresh_seconds = refresh_seconds
        now = clock()
        self._states = {r: initial_state(r, p, now) for r, p in self.policies.items()}
        self._windows: dict[tuple[str, str], Window] = {}
        self._locks = {route: asyncio.Lock() for route in self.policies}
        self._pending: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        for route in self.policies:
            await self._load(route)
        if self._refresher is None and self.policies:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def aclose(self) -> None:
        tasks = [*self._pending, *([self._refresher] if self._refresher else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refresher = None

    async def settle(self) -> None:
        """Wait for the analyses scheduled so far (tests; shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # -- the request's side ------------------------------------------------------------------
    def assign(
        self,
        route: str,
        *,
        key: str | None = None,
        thread_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Assignment:
        """Where a request on ``route`` goes, from its sticky value (synchronous, cached)."""
        policy = self.policies.get(route)
        if policy is None:
            return Assignment()
        state = self._states[route]
        value = sticky_value(policy.sticky, key=key, thread_id=thread_id, headers=headers or {})
        variant = pick_variant(bucket(value, route, "variant"), state.shares())
        streamed = bucket(value, route, "mode") < policy.streaming_percent
        cohort = "stream" if streamed and not state.batch_fallback else "batch"
        shadow = (
            policy.shadow is not None and bucket(value, route, "shadow") < policy.shadow.percent
        )
        return Assignment(variant, cohort, shadow)

    def observe(self, route: str, variant: str, cohort: str, outcome: Outcome) -> None:
        """A finished run of ``variant`` in mode ``cohort`` (shadow runs are not judged)."""
        if route not in self.policies or cohort == "shadow":
            return
        now = self.clock()
        self._window(route, variant).add(now, outcome)
        self._window(route, f"mode:{cohort}").add(now, outcome)
        self._schedule(route)

    def record_feedback(self, route: str, variant: str, score: float) -> None:
        """A user's ``score`` (0-1) of a run of ``variant`` (the feedback API calls this)."""
        if route not in self.policies:
            return
        if not 0 <= score <= 1:
            raise ValueError("a feedback score is between 0 and 1")
        self._window(route, variant).score(self.clock(), score)
        self._schedule(route)

    # -- the operator's side -----------------------------------------------------------------
    async def view(self, route: str) -> dict[str, Any]:
        """``GET /v1/rollouts/{route}``: the stored state and this replica's window figures."""
        state = await self._load(route)
        policy = self.policies[route]
        now = self.clock()
        taken = sum(v.percent for v in state.variants.values())
        variants = [
            {
                "name": STABLE,
                "percent": max(0.0, 100.0 - taken),
                "state": "stable",
                "window": self._window(route, STABLE).figures(now).as_json(),
            }
        ]
        for name, variant in sorted(state.variants.items()):
            variants.append(
                {
                    "name": name,
                    "percent": variant.percent,
                    "state": variant.phase,
                    "since": variant.since,
                    "decided_by": variant.decided_by,
                    "window": self._window(route, name).figures(now).as_json(),
                }
            )
        return {
            "route": route,
            "state": _overall(state),
            "version": state.version,
            "variants": variants,
            "streaming_percent": 0.0 if state.batch_fallback else policy.streaming_percent,
            "batch_fallback": state.batch_fallback,
            "batch_decided_by": state.batch_decided_by,
            "shadow_percent": policy.shadow.percent if policy.shadow is not None else 0.0,
            "sticky": policy.sticky,
        }

    async def act(
        self, route: str, action: Action, variant: str | None = None, actor: str | None = None
    ) -> list[Transition]:
        """``promote``, ``rollback``, ``pause`` or ``resume`` ``variant`` (default: every
        variant — to promote, the only one). Raises ``UnknownVariant``."""
        names = sorted(self._states[route].variants)
        if variant is not None:
            if variant not in names:
                raise UnknownVariant(variant)
            names = [variant]
        elif action == "promote" and len(names) != 1:
            raise UnknownVariant("promote needs ?variant= when a route has several")
        return await self._change(route, lambda s, now: act(s, action, names, now, actor))

    async def evaluate(self, route: str) -> list[Transition]:
        """Analyse ``route`` now (what each observation schedules)."""
        policy = self.policies[route]

        def decide(state: RolloutState, now: float) -> list[Transition]:
            names = [*state.variants, STABLE]
            figures = {n: self._window(route, n).figures(now) for n in names}
            figures["stream"] = self._window(route, "mode:stream").figures(now)
            return analyse(state, policy, figures, now)

        return await self._change(route, decide)

    # -- inside ------------------------------------------------------------------------------
    async def _change(
        self, route: str, decide: Callable[[RolloutState, float], list[Transition]]
    ) -> list[Transition]:
        async with self._locks[route]:
            for _ in range(_SAVE_TRIES):
                read = await self._load(route)
                state = read.copy()
                changes = decide(state, self.clock())
                if not changes:
                    return []
                state.version = read.version + 1
                if await self.store.save(state, read.version):
                    self._states[route] = state
                    for change in changes:
                        self._report(change)
                    return changes
            log.warning("rollout of route %r: state kept changing under this replica", route)
            return []

    async def _load(self, route: str) -> RolloutState:
        """The stored state (stored first if there is none), reconciled with the policy."""
        policy = self.policies[route]
        stored = await self.store.load(route)
        if stored is None:
            fresh = initial_state(route, policy, self.clock())
            fresh.version = 1
            if await self.store.save(fresh, 0):
                stored = fresh
            else:
                stored = await self.store.load(route) or fresh
        state = reconciled(stored, policy, self.clock())
        self._states[route] = state
        return state

    def _schedule(self, route: str) -> None:
        task = asyncio.get_running_loop().create_task(self._evaluate_logged(route))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _evaluate_logged(self, route: str) -> None:
        try:
            await self.evaluate(route)
        except Exception:  # a store away: the next outcome tries again
            log.exception("rollout analysis of route %r failed", route)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            for route in self.policies:
                with contextlib.suppress(Exception):  # a store away: keep the last state
                    await self._load(route)

    def _report(self, change: Transition) -> None:
        log.warning(
            "rollout %s: %s %s -> %s (%g%% -> %g%%, %s)",
            change.route,
            change.variant,
            change.before,
            change.after,
            change.percent_before,
            change.percent_after,
            change.reason,
        )
        if self.on_transition is not None:
            try:
                self.on_transition(change)
            except Exception:
                log.exception("a rollout transition's report failed")

    def _window(self, route: str, name: str) -> Window:
        window = self._windows.get((route, name))
        if window is None:
            seconds = self.policies[route].analysis.window_seconds
            window = self._windows[(route, name)] = Window(seconds)
        return window


def _overall(state: RolloutState) -> str:
    """One word for the route: the first of progressing, paused, rolled_back, promoted
    that a variant is in (``stable`` with no variant)."""
    phases = {v.phase for v in state.variants.values()}
    for phase in ("progressing", "paused", "rolled_back", "promoted"):
        if phase in phases:
            return phase
    return "stable"
