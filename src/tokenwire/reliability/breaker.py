"""A circuit breaker per upstream: stop calling a provider that keeps failing, for a while.

closed ──N consecutive failures──▶ open (attempts skip straight to the fallback)
open ──cool-down over──▶ half-open (one attempt, the probe, goes through)
half-open ──the probe succeeds──▶ closed;  ──it fails──▶ open for another cool-down

While the probe is out, every other attempt is skipped as if the breaker were open: a
provider that just recovered (or not) sees one call, not every request that queued up during
the cool-down. A probe that ends with neither outcome (cancelled, or stopped for a reason of
its run's own) gives the probe back: the next attempt probes.

Each attempt the breaker allows holds a :class:`Permit` and reports its outcome on it.
Breakers are keyed by the upstream runnable's identity, so one provider shared by several
routes (or used as a fallback) has one breaker. Cancellations are neither success nor failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitBreakers", "Permit"]

log = logging.getLogger("tokenwire.reliability")

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """``Route(..., circuit_breaker=BreakerPolicy(failure_threshold=3, cooldown_seconds=10))``"""

    failure_threshold: int = 5
    cooldown_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.cooldown_seconds < 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_seconds >= 0")


class Permit:
    """One attempt's leave to call an upstream (``breaker.allow()``): the attempt reports
    each call's outcome on it, and ``abandoned()`` when it ends — a no-op once it reported
    an outcome, and what hands a cancelled probe back."""

    __slots__ = ("_breaker",)

    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker

    def succeeded(self) -> None:
        self._breaker._succeeded(self)

    def failed(self) -> None:
        self._breaker._failed(self)

    def abandoned(self) -> None:
        """The attempt ended without an outcome: if it was the probe, another may probe."""
        self._breaker._abandoned(self)


class CircuitBreaker:
    """The breaker of one upstream; its counters are what telemetry reads."""

    def __init__(
        self, name: str, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._opened_at = 0.0
        self.state: BreakerState = "closed"
        self.consecutive_failures = 0
        #: How often the breaker opened, and how many attempts it skipped while open.
        self.times_opened = 0
        self.skipped = 0
        #: The half-open breaker's one attempt in flight, whose outcome decides its state.
        self._probe: Permit | None = None

    def allow(self) -> Permit | None:
        """A permit to call this upstream now, or None (counting a skip) while it is open
        or half-open with its probe still out."""
        if self.state == "open":
            if self._clock() - self._opened_at < self.policy.cooldown_seconds:
                self.skipped += 1
                return None
            self.state = "half_open"
        permit = Permit(self)
        if self.state == "half_open":
            if self._probe is not None:
                self.skipped += 1
                return None
            self._probe = permit
        return permit

    def _succeeded(self, permit: Permit) -> None:
        # Any success closes it: an attempt let through before it opened counts as well.
        self._probe = None
        self.consecutive_failures = 0
        self.state = "closed"

    def _failed(self, permit: Permit) -> None:
        self.consecutive_failures += 1
        if self.state == "half_open":
            if permit is not self._probe:
                return  # an attempt older than the cool-down: the probe decides
            self._probe = None
            self._open()
        elif self.state == "closed" and self.consecutive_failures >= self.policy.failure_threshold:
            self._open()

    def _abandoned(self, permit: Permit) -> None:
        if permit is self._probe:
            self._probe = None

    def _open(self) -> None:
        self.state = "open"
        self._opened_at = self._clock()
        self.times_opened += 1
        log.warning(
            "circuit opened for upstream %r after %d consecutive failure(s); skipping it for %g s",
            self.name,
            self.consecutive_failures,
            self.policy.cooldown_seconds,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "upstream": self.name,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "times_opened": self.times_opened,
            "skipped": self.skipped,
        }


class CircuitBreakers:
    """Every breaker of a gateway, one per upstream runnable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # The runnable is kept alongside its breaker so its id() cannot be reused.
        self._breakers: dict[int, tuple[object, CircuitBreaker]] = {}

    def for_upstream(self, runnable: object, name: str, policy: BreakerPolicy) -> CircuitBreaker:
        entry = self._breakers.get(id(runnable))
        if entry is None:
            entry = (runnable, CircuitBreaker(name, policy, self._clock))
            self._breakers[id(runnable)] = entry
        return entry[1]

    def __iter__(self) -> Any:
        return iter([breaker for _, breaker in self._breakers.values()])

    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per upstream (for ``/metrics`` and dashboards)."""
        return [breaker.snapshot() for _, breaker in self._breakers.values()]
