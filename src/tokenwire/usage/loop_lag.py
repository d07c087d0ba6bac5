"""How long the event loop was too busy to run anything: the gateway's share of a gap.

A gap between two tokens, measured in the gateway, is the provider's gap plus whatever kept
the loop from reading the provider's next chunk (an export, a scrape, thousands of streams
at once). :class:`LoopLag` ticks every ``interval`` seconds; a tick that fires more than
``tolerance`` late means the loop was blocked that long, and the blocked span is kept (a
bounded ring, on the gateway's clock). A stall is then judged on the gap minus the blocked
time inside it, so gateway overload is never blamed on the provider. One timer per gateway,
nothing per token: only a gap already over the stall threshold asks :meth:`blocked_within`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import perf_counter

from tokenwire.usage.timing import Clock

__all__ = ["LoopLag"]


class LoopLag:
    """``clock``: the gateway's clock, which blocked spans are stamped on (the ticks are
    scheduled on the loop's own). A monitor never started records only what
    :meth:`blocked` is told (tests script it)."""

    def __init__(
        self,
        clock: Clock = perf_counter,
        *,
        interval: float = 0.02,
        tolerance: float = 0.005,
        keep: int = 1024,
    ) -> None:
        self._clock = clock
        self.interval = interval
        self.tolerance = tolerance
        #: (start, end) of each blocked span, oldest first (ends never decrease).
        self.spans: deque[tuple[float, float]] = deque(maxlen=keep)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    def start(self) -> None:
        if self._handle is None:
            self._loop = asyncio.get_running_loop()
            self._schedule(self._loop.time())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def blocked(self, start: float, end: float) -> None:
        """The loop could run nothing from ``start`` to ``end`` (gateway clock)."""
        self.spans.append((start, end))

    def settle(self) -> None:
        """Account for a block still being measured: a tick overdue right now (the token
        that ends a gap can run before the tick that would have seen the block)."""
        loop = self._loop
        if self._handle is None or loop is None:
            return
        if loop.time() - self._due > self.tolerance:
            self._handle.cancel()
            self._tick()

    def blocked_within(self, start: float, end: float) -> float:
        """Seconds of ``[start, end]`` the loop was blocked, as far as the ring remembers."""
        total = 0.0
        for span_start, span_end in reversed(self.spans):
            if span_end <= start:
                break
            total += max(0.0, min(span_end, end) - max(span_start, start))
        return total

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        late = now - self._due
        if late > self.tolerance:
            end = self._clock()
            self.blocked(end - late, end)
        self._schedule(now)

    def _schedule(self, now: float) -> None:
        assert self._loop is not None
        self._due = now + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)
