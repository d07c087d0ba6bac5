"""A circuit breaker per upstream: stop calling a provider that keeps failing, for a while.

closed ──N consecutive failures──▶ open (attempts skip straight to the fallback)
open ──cool-down over──▶ half-open (attempts go through again)
half-open ──a success──▶ closed;  ──a failure──▶ open for another cool-down

Breakers are keyed by the upstream runnable's identity, so one provider shared by several
routes (or used as a fallback) has one breaker. Cancellations are neither success nor failure.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitBreakers"]

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

    def allow(self) -> bool:
        """Whether an attempt may call this upstream now (counts a skip when not)."""
        if self.state == "open":
            if self._clock() - self._opened_at < self.policy.cooldown_seconds:
                self.skipped += 1
                return False
            self.state = "half_open"
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.state = "closed"

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        trips = self.consecutive_failures >= self.policy.failure_threshold
        if self.state == "half_open" or (self.state == "closed" and trips):
            self.state = "open"
            self._opened_at = self._clock()
            self.times_opened += 1
            log.warning(
                "circuit opened for upstream %r after %d consecutive failure(s);"
                " skipping it for %g s",
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
