"""A route's rollout state: each variant's share and where it stands, as stored.

``version`` grows with every change; stores save a state only over the version it was read
at, so two replicas deciding at once make one transition, not two.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from tokenwire.rollout.spec import RolloutPolicy

__all__ = ["PROGRESSING", "RolloutState", "VariantPhase", "VariantState", "initial_state"]

VariantPhase = Literal["progressing", "promoted", "rolled_back", "paused"]
PROGRESSING: VariantPhase = "progressing"


@dataclass(slots=True)
class VariantState:
    """``percent``: its share now; ``since``: when its share or phase last changed (the
    rollout clock, epoch seconds); ``decided_by``: the figures of its last transition."""

    percent: float
    phase: VariantPhase = PROGRESSING
    since: float = 0.0
    decided_by: dict[str, Any] | None = None


@dataclass(slots=True)
class RolloutState:
    route: str
    variants: dict[str, VariantState] = field(default_factory=dict)
    #: The streaming cohort's errors passed ``fallback_to_batch_error_rate``: new runs batch.
    batch_fallback: bool = False
    batch_decided_by: dict[str, Any] | None = None
    version: int = 0

    def copy(self) -> RolloutState:
        return RolloutState.from_json(self.to_json())

    def shares(self) -> list[tuple[str, float]]:
        """(variant, percent) of the variants serving traffic, in a stable order."""
        return [(name, v.percent) for name, v in sorted(self.variants.items()) if v.percent > 0]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> RolloutState:
        data = json.loads(raw)
        variants = {name: VariantState(**v) for name, v in data.pop("variants").items()}
        return cls(variants=variants, **data)


def initial_state(route: str, policy: RolloutPolicy, now: float) -> RolloutState:
    variants = {v.name: VariantState(percent=v.percent, since=now) for v in policy.variants}
    return RolloutState(route=route, variants=variants)


def reconciled(state: RolloutState, policy: RolloutPolicy, now: float) -> RolloutState:
    """A stored state under the current policy: variants it no longer names are gone,
    new ones start at their configured percent."""
    fresh = state.copy()
    names = {v.name for v in policy.variants}
    fresh.variants = {n: s for n, s in fresh.variants.items() if n in names}
    for variant in policy.variants:
        fresh.variants.setdefault(variant.name, VariantState(variant.percent, since=now))
    return fresh
