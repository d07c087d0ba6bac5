"""The dashboard's aggregation of run records into time buckets."""

from __future__ import annotations

from array import array
from dataclasses import replace

import pytest

from tokenwire.telemetry.record import RunRecord
from tokenwire.ui.summary import Window, summarize, tokens_per_second

NOW = 1_000_009.5  # 9.5 s into a 10 s bucket


def record(ended_ago: float, **changes: object) -> RunRecord:
    duration = 2.0
    base = RunRecord(
        run_id="r",
        trace_id="t",
        route="chat",
        model="gpt-4o-mini",
        provider="openai",
        key_alias="anonymous",
        cohort="stream",
        status="completed",
        error_code=None,
        started_at=NOW - ended_ago - duration,
        duration_s=duration,
        ttft_s=0.5,
        itl_p50_s=0.02,
        itl_p95_s=0.04,
        itl_max_s=0.05,
        stalls=0,
        input_tokens=10,
        output_tokens=31,
        cached_input_tokens=0,
        estimated=False,
        cost_usd=0.001,
        token_events=31,
        tokens_after_disconnect=0,
        gaps=array("d", [0.02] * 30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_runs_land_in_the_bucket_in_which_they_ended() -> None:
    window = Window(seconds=60, bucket=10)
    records = [record(5), record(15, ttft_s=1.5), record(16, ttft_s=2.5), record(500)]
    summary = summarize(records, now=NOW, window=window, active={})
    series = summary["series"]
    assert len(series["t"]) == 6
    assert series["t"][-1] == 1_000_000.0
    assert series["runs"] == [0, 0, 0, 0, 2, 1]  # the 500 s old run is outside the window
    assert series["ttft_p50_ms"][-2:] == [2000.0, 500.0]
    assert series["ttft_p50_ms"][:4] == [None] * 4  # no data is a gap, not a zero
    assert summary["totals"]["runs"] == 3


def test_inter_token_percentiles_pool_every_gap() -> None:
    slow = record(1, gaps=array("d", [0.2] * 10))
    fast = record(2, gaps=array("d", [0.01] * 90))
    totals = summarize([slow, fast], now=NOW, window=Window(60, 60), active={})["totals"]
    # 90 of 100 gaps are fast: the median is fast, p95 is slow. Averaging the two runs'
    # own medians would have said ~105 ms.
    assert totals["itl_p50_ms"] == pytest.approx(10.0)
    assert totals["itl_p95_ms"] == pytest.approx(200.0)


def test_error_rate_by_code_and_cost_by_route_and_model() -> None:
    records = [
        record(1),
        record(1, status="cancelled", error_code="cancelled"),
        record(1, status="failed", error_code="upstream_error", route="rag"),
        record(1, route="rag", model="mock", cost_usd=None),
    ]
    summary = summarize(records, now=NOW, window=Window(60, 10), active={"chat": 2})
    # A cancelled run is a cancellation, not an error (see the test below).
    assert summary["errors_by_code"] == {"upstream_error": 1}
    assert summary["series"]["error_rate_by_code"]["upstream_error"][-1] == 0.25
    assert summary["totals"]["error_rate"] == 0.25
    assert summary["cost_by_route_model"] == [
        {
            "route": "chat",
            "model": "gpt-4o-mini",
            "runs": 2,
            "output_tokens": 62,
            "cost_usd": 0.002,
            "unpriced_runs": 0,
        },
        {
            "route": "rag",
            "model": "gpt-4o-mini",
            "runs": 1,
            "output_tokens": 31,
            "cost_usd": 0.001,
            "unpriced_runs": 0,
        },
        {
            "route": "rag",
            "model": "mock",
            "runs": 1,
            "output_tokens": 31,
            "cost_usd": 0.0,
            "unpriced_runs": 1,
        },
    ]
    assert summary["active"] == {"total": 2, "by_route": {"chat": 2}}


def test_tokens_per_second_counts_only_generation_time() -> None:
    assert tokens_per_second(record(1)) == pytest.approx(31 / 1.5)
    assert tokens_per_second(record(1, ttft_s=None)) is None
    assert tokens_per_second(record(1, output_tokens=1)) is None


@pytest.mark.parametrize(("seconds", "bucket"), [(60, 0), (10, 20), (100_000, 1)])
def test_window_refuses_nonsense(seconds: float, bucket: float) -> None:
    with pytest.raises(ValueError):
        Window(seconds=seconds, bucket=bucket)


def test_rollout_cohorts_are_side_by_side() -> None:
    window = Window(seconds=60, bucket=10)
    records = [
        record(5),
        record(5, cohort="batch", ttft_s=2.0),
        record(5, variant="v2", error_code="upstream_error", status="failed"),
        record(5, cohort="shadow", variant="shadow"),
    ]
    rows = summarize(records, now=NOW, window=window, active={})["by_cohort"]
    assert [(r["cohort"], r["runs"], r["errors"]) for r in rows] == [
        ("batch", 1, 0), ("shadow", 1, 0), ("stream", 1, 0), ("v2:stream", 1, 1),
    ]  # fmt: skip
    assert rows[0]["ttft_p95_ms"] == 2000.0


def test_cancellations_and_disconnects_are_not_errors() -> None:
    """A user's Stop used to count as an error (one Stop in 15 runs: 6.7 %)."""
    cancelled = {"status": "cancelled", "error_code": "cancelled"}
    records = [
        record(1),
        record(1, **cancelled),
        record(1, **cancelled, disconnected=True),
        record(1, **cancelled, disconnected=True),
        record(1, status="failed", error_code="incomplete_stream"),
    ]
    summary = summarize(records, now=NOW, window=Window(60, 10), active={})
    totals = summary["totals"]
    assert (totals["errors"], totals["error_rate"]) == (1, 0.2)
    assert (totals["cancellations"], totals["disconnects"]) == (1, 2)
    assert summary["errors_by_code"] == {"incomplete_stream": 1}
    assert summary["series"]["cancellations"][-1] == 1
    assert summary["series"]["disconnects"][-1] == 2
