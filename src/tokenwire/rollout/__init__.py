"""Rollouts: canary variants, a shadow, and streaming-versus-batch cohorts of a route.

Everything here is policy over plain values — what a request is assigned, what a window of
run outcomes says, what state a variant moves to — with no knowledge of runs or HTTP: the
gateway feeds it outcomes and asks it for assignments (``tokenwire.gateway.rollouts``).
"""

from tokenwire.rollout.assignment import Assignment
from tokenwire.rollout.controller import Rollouts, Transition
from tokenwire.rollout.spec import AnalysisSpec, RolloutPolicy, ShadowSpec, VariantSpec
from tokenwire.rollout.state import RolloutState, VariantState
from tokenwire.rollout.window import Outcome

__all__ = [
    "AnalysisSpec",
    "Assignment",
    "Outcome",
    "RolloutPolicy",
    "RolloutState",
    "Rollouts",
    "ShadowSpec",
    "Transition",
    "VariantSpec",
    "VariantState",
]
