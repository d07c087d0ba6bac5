"""Counters of what the reliability layer did — the hook telemetry reads.

Plain integers bumped where the event happens (never per token); an exporter reads
``Reliability.stats.as_dict()`` and ``Reliability.breakers.snapshot()`` when it scrapes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tokenwire.reliability.breaker import CircuitBreakers

__all__ = ["Reliability", "ReliabilityStats"]


@dataclass(slots=True)
class ReliabilityStats:
    retries: int = 0
    fallbacks: int = 0
    restarts: int = 0
    continuations: int = 0
    #: Mid-stream ``continue`` refused (tools ran, or no chat-model fallback): ended ``error``.
    continuations_refused: int = 0
    first_token_timeouts: int = 0
    stall_timeouts: int = 0
    total_timeouts: int = 0
    #: Attempts skipped because the upstream's circuit was open.
    breaker_skips: int = 0
    #: Runs still live at shutdown after the grace period, ended ``incomplete_stream``.
    incomplete_at_shutdown: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class Reliability:
    """What a gateway's runs share: breakers per upstream and the counters."""

    stats: ReliabilityStats = field(default_factory=ReliabilityStats)
    breakers: CircuitBreakers = field(default_factory=CircuitBreakers)

    def snapshot(self) -> dict[str, Any]:
        return {"stats": self.stats.as_dict(), "breakers": self.breakers.snapshot()}
