"""Prices and cost, and inter-token gap statistics."""

from __future__ import annotations

from array import array

import pytest

from tokenwire.usage.pricing import Price, PriceTable
from tokenwire.usage.timing import percentile, summarize_gaps


def test_longest_prefix_prices_dated_snapshots_as_their_family() -> None:
    table = PriceTable()
    assert table.lookup("gpt-4o-mini-2024-07-18") == table.lookup("gpt-4o-mini")
    assert table.lookup("gpt-4o-2024-08-06") == Price(2.50, 10.00, 1.25)
    assert table.lookup("claude-3-5-haiku-20241022") == Price(0.80, 4.00, 0.08)


def test_unknown_models_cost_none_never_zero() -> None:
    assert PriceTable().cost("my-local-llama", 1000, 1000) is None
    assert PriceTable().cost(None, 1000, 1000) is None


def test_overrides_and_cached_input() -> None:
    table = PriceTable({"mock": {"input": 1.0, "output": 2.0, "cached_input": 0.5}})
    assert table.cost("mock@itl=5", 1000, 500) == pytest.approx((1000 * 1 + 500 * 2) / 1e6)
    assert table.cost("mock", 1000, 0, cached_input_tokens=400) == pytest.approx(
        (600 * 1 + 400 * 0.5) / 1e6
    )
    with pytest.raises(ValueError, match="needs 'input' and 'output'"):
        PriceTable({"bad": {"input": 1}})


def test_gap_summary() -> None:
    gaps = array("d", [0.02] * 18 + [0.5, 1.5])
    summary = summarize_gaps(gaps, stall_threshold=1.0)
    assert summary.p50 == pytest.approx(0.02)
    assert summary.max == 1.5
    assert summary.stalls == 1
    assert percentile([], 50) is None
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
