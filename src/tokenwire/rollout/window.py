"""A sliding window of run outcomes, and the figures the analysis compares.

Outcomes are kept per (route, variant) and per mode cohort, timed by the rollout's clock;
anything older than the window is dropped as figures are read, so a window never holds more
than its last ``window_seconds`` (and at most ``max_items``) of runs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ERROR_CODES", "Figures", "Outcome", "Window", "is_error"]

#: Error codes that count against a variant beyond ``failed`` runs (timeouts, a stream
#: that broke off); a user's cancel is never one.
ERROR_CODES = frozenset({"incomplete_stream", "upstream_timeout", "stall_timeout"})


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the analysis needs of one finished run."""

    status: str
    error_code: str | None = None
    ttft_s: float | None = None
    itl_p95_s: float | None = None
    cost_usd: float | None = None


def is_error(outcome: Outcome) -> bool | None:
    """True for an error, False for a run that counts as healthy, None for a run that says
    nothing either way (cancelled by its user)."""
    if outcome.status == "failed" or outcome.error_code in ERROR_CODES:
        return True
    if outcome.status == "cancelled":
        return None
    return False


@dataclass(frozen=True, slots=True)
class Figures:
    """A window's figures: ``runs`` that count (cancels left out), and the rest over them."""

    runs: int = 0
    errors: int = 0
    ttft_p95_s: float | None = None
    itl_p95_s: float | None = None
    cost_per_run: float | None = None
    feedback: int = 0
    feedback_mean: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.runs if self.runs else 0.0

    def as_json(self) -> dict[str, float | int | None]:
        return {
            "runs": self.runs,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "ttft_p95_s": self.ttft_p95_s,
            "itl_p95_s": self.itl_p95_s,
            "cost_per_run": self.cost_per_run,
            "feedback": self.feedback,
            "feedback_mean": self.feedback_mean,
        }


class Window:
    """Outcomes and feedback scores of the last ``seconds``."""

    def __init__(self, seconds: float, max_items: int = 10_000) -> None:
        self.seconds = seconds
        self._outcomes: deque[tuple[float, Outcome]] = deque(maxlen=max_items)
        self._scores: deque[tuple[float, float]] = deque(maxlen=max_items)

    def add(self, at: float, outcome: Outcome) -> None:
        self._outcomes.append((at, outcome))

    def score(self, at: float, score: float) -> None:
        self._scores.append((at, score))

    def clear(self) -> None:
        self._outcomes.clear()
        self._scores.clear()

    def figures(self, now: float) -> Figures:
        cutoff = now - self.seconds
        for kept in (self._outcomes, self._scores):
            while kept and kept[0][0] < cutoff:
                kept.popleft()
        counted = [o for _, o in self._outcomes if is_error(o) is not None]
        scores = [s for _, s in self._scores]
        costs = [o.cost_usd for o in counted if o.cost_usd is not None]
        return Figures(
            runs=len(counted),
            errors=sum(1 for o in counted if is_error(o)),
            ttft_p95_s=p95(o.ttft_s for o in counted),
            itl_p95_s=p95(o.itl_p95_s for o in counted),
            cost_per_run=sum(costs) / len(costs) if costs else None,
            feedback=len(scores),
            feedback_mean=sum(scores) / len(scores) if scores else None,
        )


def p95(values: Iterable[float | None]) -> float | None:
    """The nearest-rank 95th percentile of the values given (None: no value)."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    return known[max(0, math.ceil(0.95 * len(known)) - 1)]
