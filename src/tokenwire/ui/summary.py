"""What the dashboard shows: recent run records folded into time buckets.

Computed on demand from ``Telemetry.recent`` (the last few thousand ``RunRecord``s kept in
memory), never on the token path. A run counts in the bucket in which it *ended*: that is
when its TTFT, inter-token gaps, tokens and cost are known.

Inter-token latency percentiles pool every gap of the bucket's runs (a long answer weighs
more than a short one, as it does for the reader); tokens/s is the median over runs of
output tokens divided by the time spent generating them (duration minus TTFT).

A run that was cancelled is not an error: a user's Stop (or a moderator's halt, any cancel
request) counts as a *cancellation*, a run cancelled because its last client left
(``on_disconnect = "cancel"``) as a *disconnect*. Errors are the runs that ended with any
other error code.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenwire.telemetry.record import RunRecord
from tokenwire.usage.timing import percentile

__all__ = ["Window", "summarize"]


@dataclass(frozen=True, slots=True)
class Window:
    """How far back the dashboard looks and how wide one point of a chart is (seconds).

    >>> Window(seconds=300, bucket=5).buckets
    60
    """

    seconds: float = 300.0
    bucket: float = 5.0

    def __post_init__(self) -> None:
        if self.bucket <= 0 or self.seconds < self.bucket:
            raise ValueError("need 0 < bucket <= seconds")
        # Compared as floats: a tiny bucket makes the ratio inf, which ``buckets`` (an int)
        # cannot hold.
        if self.seconds / self.bucket > 2000:
            raise ValueError("at most 2000 buckets per window")

    @property
    def buckets(self) -> int:
        return math.ceil(self.seconds / self.bucket)


_CANCELLED = "cancelled"


@dataclass(slots=True)
class _Bucket:
    runs: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cancellations: int = 0
    disconnects: int = 0
    ttft: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, record: RunRecord) -> None:
        self.runs += 1
        if record.status == _CANCELLED:
            if record.disconnected:
                self.disconnects += 1
            else:
                self.cancellations += 1
        elif record.error_code:
            self.errors[record.error_code] += 1
        if record.ttft_s is not None:
            self.ttft.append(record.ttft_s)
        self.gaps.extend(record.gaps)
        rate = tokens_per_second(record)
        if rate is not None:
            self.rates.append(rate)
        self.output_tokens += record.output_tokens
        self.cost_usd += record.cost_usd or 0.0


def tokens_per_second(record: RunRecord) -> float | None:
    """Output tokens over the time spent producing them (after the first token)."""
    if record.ttft_s is None or record.output_tokens < 2:
        return None
    generating = record.duration_s - record.ttft_s
    return record.output_tokens / generating if generating > 0 else None


def summarize(
    records: Iterable[RunRecord],
    *,
    now: float,
    window: Window,
    active: Mapping[str, int],
    version: int = 0,
) -> dict[str, Any]:
    """The JSON body of ``GET /v1/telemetry/summary``.

    ``series`` holds one value per bucket (``null`` where a bucket had no data, so charts
    show a gap rather than a false zero); ``t`` is each bucket's start in epoch seconds.
    """
    width = window.bucket
    count = window.buckets
    first = math.floor(now / width) * width - (count - 1) * width
    buckets = [_Bucket() for _ in range(count)]
    total = _Bucket()
    by_route_model: dict[tuple[str, str], dict[str, Any]] = {}
    by_cohort: dict[tuple[str, str], _Bucket] = {}
    for record in records:
        index = math.floor((record.started_at + record.duration_s - first) / width)
        if not 0 <= index < count:
            continue
        buckets[index].add(record)
        total.add(record)
        by_cohort.setdefault((record.route, record.cohort_label), _Bucket()).add(record)
        row = by_route_model.setdefault(
            (record.route, record.model or "unknown"),
            {"runs": 0, "output_tokens": 0, "cost_usd": 0.0, "unpriced_runs": 0},
        )
        row["runs"] += 1
        row["output_tokens"] += record.output_tokens
        if record.cost_usd is None:
            row["unpriced_runs"] += 1
        else:
            row["cost_usd"] += record.cost_usd
    codes = sorted(total.errors)
    return {
        "now": now,
        "version": version,
        "window_s": window.seconds,
        "bucket_s": width,
        "active": {"total": sum(active.values()), "by_route": dict(sorted(active.items()))},
        "totals": _totals(total),
        "errors_by_code": {code: total.errors[code] for code in codes},
        "cost_by_route_model": [
            {"route": route, "model": model, **row}
            for (route, model), row in sorted(by_route_model.items())
        ],
        # Rollout cohorts side by side: stable's stream and batch, each variant's, the shadow.
        "by_cohort": [
            {"route": route, "cohort": cohort, **_totals(bucket)}
            for (route, cohort), bucket in sorted(by_cohort.items())
        ],
        "series": {
            "t": [first + i * width for i in range(count)],
            "runs": [b.runs for b in buckets],
            "ttft_p50_ms": [_ms(_pct(b.ttft, 50)) for b in buckets],
            "ttft_p95_ms": [_ms(_pct(b.ttft, 95)) for b in buckets],
            "itl_p50_ms": [_ms(_pct(b.gaps, 50)) for b in buckets],
            "itl_p95_ms": [_ms(_pct(b.gaps, 95)) for b in buckets],
            "tokens_per_s": [_round(_pct(b.rates, 50)) for b in buckets],
            "cost_usd": [round(b.cost_usd, 10) for b in buckets],
            "cancellations": [b.cancellations for b in buckets],
            "disconnects": [b.disconnects for b in buckets],
            "error_rate_by_code": {
                code: [b.errors[code] / b.runs if b.runs else None for b in buckets]
                for code in codes
            },
        },
    }


def _totals(total: _Bucket) -> dict[str, Any]:
    errors = sum(total.errors.values())
    return {
        "runs": total.runs,
        "errors": errors,
        "error_rate": errors / total.runs if total.runs else None,
        "cancellations": total.cancellations,
        "disconnects": total.disconnects,
        "output_tokens": total.output_tokens,
        "cost_usd": round(total.cost_usd, 10),
        "ttft_p50_ms": _ms(_pct(total.ttft, 50)),
        "ttft_p95_ms": _ms(_pct(total.ttft, 95)),
        "itl_p50_ms": _ms(_pct(total.gaps, 50)),
        "itl_p95_ms": _ms(_pct(total.gaps, 95)),
        "tokens_per_s": _round(_pct(total.rates, 50)),
    }


def _pct(values: list[float], q: float) -> float | None:
    return percentile(sorted(values), q)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
