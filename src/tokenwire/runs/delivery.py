"""Delivery lag: from a token recorded in the run's log to its write on a client's socket.

With the provider's gaps measured where tokens arrive, this is the other half of what a
client waits for: what the gateway itself added (its loop, coalescing, a slow socket). The
recorder stamps each token event with its clock reading (``Event.at``, a reading it takes
anyway); a subscriber's writer reports each write of events, once, with the stamp of the
oldest token in it — the one that waited longest. So it costs one clock read per write,
never one per token.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

from tokenwire.events import Event, stamp_of
from tokenwire.usage.timing import Clock, percentile

__all__ = ["DeliveryLag", "oldest_token_at"]


class DeliveryLag:
    """One run's delivery lags, one per write (seconds, on the gateway's clock)."""

    __slots__ = ("_clock", "lags")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.lags: array[float] = array("d")

    def now(self) -> float:
        return self._clock()

    def written(self, recorded_at: float) -> None:
        """A write just went out whose oldest token was recorded at ``recorded_at``."""
        self.lags.append(self._clock() - recorded_at)

    def summary(self) -> tuple[float | None, float | None]:
        """(p95, max) of the writes so far; (None, None) before the first."""
        ordered = sorted(self.lags)
        return percentile(ordered, 95), (ordered[-1] if ordered else None)


def oldest_token_at(events: Sequence[Event]) -> float | None:
    """The recorder's stamp of the first stamped event in ``events`` (None: none is)."""
    for event in events:
        at = stamp_of(event)
        if at is not None:
            return at
    return None
