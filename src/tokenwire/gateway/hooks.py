"""What a gateway's runs call out to: per-key admission, key budgets and run-end steps.

Given to the :class:`~tokenwire.gateway.Gateway` when it is built — never assigned to it
afterwards — so every run of a gateway sees the same hooks from its first start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from tokenwire.gateway.feedback import FeedbackObserver
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.runs.run import Run
from tokenwire.security.key_limits import KeyLimits
from tokenwire.security.slots import Slot

__all__ = ["Admission", "Hooks"]


class Admission(Protocol):
    """The caller's per-key limits on starting runs."""

    def admit(self, owner: str) -> Awaitable[Slot]:
        """Raise to refuse; else the concurrency slot the start holds (``hold(run)`` once
        the run started, ``release()`` if it started nothing)."""


@dataclass(frozen=True, slots=True)
class Hooks:
    """>>> Gateway(routes, hooks=Hooks(run_end=(lambda run: print(run.id, run.status),)))

    ``admission``: asked before each start (``RateLimited`` to refuse). ``key_budget``:
    what the caller's key (its alias) may still spend, tightening the route's budget.
    ``run_end``: called with each run once it has ended (after telemetry); one that raises
    does not keep the others from running. ``feedback``: called with each user's score
    taken (:class:`~tokenwire.gateway.feedback.Feedback`), after it was audited and
    measured — where rollout analysis reads satisfaction by cohort.
    """

    admission: Admission | None = None
    key_budget: Callable[[str], RunBudget | None] | None = None
    run_end: tuple[Callable[[Run], None], ...] = ()
    feedback: tuple[FeedbackObserver, ...] = ()

    @classmethod
    def of(cls, limits: KeyLimits) -> Hooks:
        """Per-key limits as hooks: admitted by them, budgeted and charged by them."""
        return cls(admission=limits, key_budget=limits.run_budget, run_end=(limits.charge,))

    def then(self, other: Hooks) -> Hooks:
        """These hooks and ``other``'s (its run-end steps and feedback observers after
        these): at most one of the two may admit, and one budget keys."""
        if (self.admission and other.admission) or (self.key_budget and other.key_budget):
            raise ValueError("two admissions or key budgets for one gateway: pass one")
        return Hooks(
            admission=self.admission or other.admission,
            key_budget=self.key_budget or other.key_budget,
            run_end=self.run_end + other.run_end,
            feedback=self.feedback + other.feedback,
        )
