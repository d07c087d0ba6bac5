"""Inter-token timing: what a stream's gaps say, computed once when the stream ends.

The token path only appends a float to an ``array('d')`` (no object kept per token);
percentiles are computed here, off the hot path.

Every timing reader takes a :data:`Clock` (default ``perf_counter``) so a test can script
time instead of asserting on the wall clock of a loaded machine.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Clock", "GapSummary", "arrived_at", "percentile", "summarize_gaps"]

Clock = Callable[[], float]
"""A monotonic clock in seconds, such as ``time.perf_counter``."""

arrived_at: ContextVar[float | None] = ContextVar("tokenwire_arrived_at", default=None)
"""When the request being served arrived, on the gateway's clock: set by the server layer
(``tokenwire.server.arrival``) for the request's task, read when a run starts, so TTFT and
``queue_ms`` count from the moment the server first saw the request. None outside one."""


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
