"""The verdict on a variant: each threshold of ``[analysis]`` checked against stable.

A ratio is only judged when stable has figures to compare with in the same window (the
absolute thresholds — error rate, feedback — need none).
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenwire.rollout.spec import AnalysisSpec
from tokenwire.rollout.window import Figures

__all__ = ["Verdict", "judge", "streaming_broken"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``ready``: the variant has ``min_runs`` in the window; ``breaches``: what failed,
    each ``(metric, value, threshold)``."""

    ready: bool
    breaches: tuple[tuple[str, float, float], ...] = ()

    @property
    def healthy(self) -> bool:
        return self.ready and not self.breaches


def judge(variant: Figures, stable: Figures, spec: AnalysisSpec) -> Verdict:
    if variant.runs < spec.min_runs:
        return Verdict(ready=False)
    breaches: list[tuple[str, float, float]] = []
    if spec.max_error_rate is not None and variant.error_rate > spec.max_error_rate:
        breaches.append(("error_rate", round(variant.error_rate, 4), spec.max_error_rate))
    ratios = (
        ("ttft_p95_ratio", variant.ttft_p95_s, stable.ttft_p95_s, spec.max_ttft_p95_ratio),
        ("itl_p95_ratio", variant.itl_p95_s, stable.itl_p95_s, spec.max_itl_p95_ratio),
        ("cost_ratio", variant.cost_per_run, stable.cost_per_run, spec.max_cost_ratio),
    )
    for metric, mine, theirs, limit in ratios:
        if limit is None or mine is None or not theirs or stable.runs < spec.min_runs:
            continue
        if mine / theirs > limit:
            breaches.append((metric, round(mine / theirs, 4), limit))
    low = spec.min_feedback_score
    mean = variant.feedback_mean
    if low is not None and mean is not None and variant.feedback >= spec.min_runs and mean < low:
        breaches.append(("feedback_score", round(mean, 4), low))
    return Verdict(ready=True, breaches=tuple(breaches))


def streaming_broken(stream: Figures, limit: float | None, min_runs: int) -> bool:
    """Whether the streaming cohort's errors call for serving batch instead."""
    return limit is not None and stream.runs >= min_runs and stream.error_rate > limit
