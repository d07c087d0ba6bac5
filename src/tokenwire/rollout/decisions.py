"""What a state becomes: the analysis's steps and rollbacks, and an operator's actions.

Pure functions over a state copy; each change is returned as a :class:`Transition` so the
controller can log, count, audit and announce it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tokenwire.rollout.analysis import judge, streaming_broken
from tokenwire.rollout.spec import RolloutPolicy
from tokenwire.rollout.state import PROGRESSING, RolloutState, VariantPhase, VariantState
from tokenwire.rollout.window import Figures

__all__ = ["ACTIONS", "Action", "Transition", "act", "analyse"]

Action = Literal["promote", "rollback", "pause", "resume"]
ACTIONS: tuple[Action, ...] = ("promote", "rollback", "pause", "resume")
#: The "variant" a streaming-guard transition is about.
STREAMING = "streaming"


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a route's rollout: ``variant`` went from ``before`` to ``after``
    (phases; for the streaming guard ``streaming`` ↔ ``batch``), its share from
    ``percent_before`` to ``percent_after``, for ``reason`` (``analysis``, ``step``,
    ``manual``), with the ``figures`` that decided it."""

    route: str
    variant: str
    before: str
    after: str
    percent_before: float
    percent_after: float
    reason: str
    at: float
    figures: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "variant": self.variant,
            "from": self.before,
            "to": self.after,
            "percent_from": self.percent_before,
            "percent_to": self.percent_after,
            "reason": self.reason,
            "at": self.at,
            "figures": self.figures,
            "actor": self.actor,
        }


def analyse(
    state: RolloutState,
    policy: RolloutPolicy,
    figures: dict[str, Figures],
    now: float,
) -> list[Transition]:
    """Roll back what breaches a threshold, step up what stayed healthy for a step's
    interval, switch the streaming guard: ``figures`` by variant, and ``stream`` (the
    streaming cohort's). Changes ``state`` in place."""
    stable = figures.get("stable", Figures())
    changes: list[Transition] = []
    for name, variant in sorted(state.variants.items()):
        if variant.phase != PROGRESSING:
            continue
        mine = figures.get(name, Figures())
        verdict = judge(mine, stable, policy.analysis)
        decided = {
            "variant": mine.as_json(),
            "stable": stable.as_json(),
            "breaches": [{"metric": m, "value": v, "threshold": t} for m, v, t in verdict.breaches],
        }
        if verdict.breaches:
            changes.append(_move(state, name, "rolled_back", 0.0, "analysis", now, decided))
        elif verdict.healthy and now - variant.since >= policy.step_interval_seconds:
            step = next((s for s in policy.steps if s > variant.percent), 100.0)
            phase: VariantPhase = "promoted" if step >= 100 else PROGRESSING
            changes.append(_move(state, name, phase, step, "step", now, decided))
    guard = _streaming_guard(state, policy, figures.get("stream", Figures()), now)
    return changes + guard


def act(
    state: RolloutState, action: Action, variants: list[str], now: float, actor: str | None
) -> list[Transition]:
    """An operator's ``action`` on ``variants`` (in place)."""
    changes = []
    for name in variants:
        current = state.variants[name]
        if action == "promote":
            changes.append(_move(state, name, "promoted", 100.0, "manual", now, {}, actor))
        elif action == "rollback":
            changes.append(_move(state, name, "rolled_back", 0.0, "manual", now, {}, actor))
        elif action == "pause" and current.phase == PROGRESSING:
            changes.append(_move(state, name, "paused", current.percent, "manual", now, {}, actor))
        elif action == "resume" and current.phase == "paused":
            resumed = _move(state, name, PROGRESSING, current.percent, "manual", now, {}, actor)
            changes.append(resumed)
    if action == "promote":  # one variant takes all the traffic
        for name, other in state.variants.items():
            if name not in variants and other.percent > 0:
                changes.append(_move(state, name, "rolled_back", 0.0, "manual", now, {}, actor))
    return changes


def _move(
    state: RolloutState,
    name: str,
    phase: VariantPhase,
    percent: float,
    reason: str,
    now: float,
    figures: dict[str, Any],
    actor: str | None = None,
) -> Transition:
    old = state.variants[name]
    state.variants[name] = VariantState(percent, phase, now, figures or old.decided_by)
    return Transition(
        state.route, name, old.phase, phase, old.percent, percent, reason, now, figures, actor
    )


def _streaming_guard(
    state: RolloutState, policy: RolloutPolicy, stream: Figures, now: float
) -> list[Transition]:
    """Batch while the streaming cohort's errors pass the threshold; stream again once
    they are back under it (or aged out of the window: no streamed run, no figures)."""
    broken = streaming_broken(stream, policy.fallback_to_batch_error_rate, policy.analysis.min_runs)
    if broken == state.batch_fallback:
        return []
    state.batch_fallback = broken
    figures = {"stream": stream.as_json(), "threshold": policy.fallback_to_batch_error_rate}
    state.batch_decided_by = figures
    before, after = ("stream", "batch") if broken else ("batch", "stream")
    streamed = policy.streaming_percent
    percents = (streamed, 0.0) if broken else (0.0, streamed)
    return [Transition(state.route, STREAMING, before, after, *percents, "analysis", now, figures)]
