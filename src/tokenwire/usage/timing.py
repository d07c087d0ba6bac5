"""Inter-token timing: what a stream's gaps say, computed once when the stream ends.

The token path only appends a float to an ``array('d')`` (no object kept per token);
percentiles are computed here, off the hot path.

Every timing reader takes a :data:`Clock` (default ``perf_counter``) so a test can script
time instead of asserting on the wall clock of a loaded machine.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Clock", "GapSummary", "percentile", "summarize_gaps"]

Clock = Callable[[], float]
"""A monotonic clock in seconds, such as ``time.perf_counter``."""


@dataclass(frozen=True, slots=True)
class GapSummary:
    """Inter-token latency of one stream, in seconds (None without two tokens)."""

    p50: float | None
    p95: float | None
    max: float | None
    stalls: int


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (``q`` in 0..100) of an ascending sequence."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize_gaps(gaps: array[float] | Sequence[float], stall_threshold: float) -> GapSummary:
    ordered = sorted(gaps)
    stalls = sum(1 for gap in ordered if gap > stall_threshold)
    return GapSummary(
        percentile(ordered, 50),
        percentile(ordered, 95),
        ordered[-1] if ordered else None,
        stalls,
    )
