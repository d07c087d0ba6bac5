"""The issue #22 targets table: verdicts from synthetic results, no measurement."""

from __future__ import annotations

from typing import Any

import pytest

from bench import targets

pytestmark = pytest.mark.unit


def _results() -> dict[str, Any]:
    peers = {
        "bare loop": {"ttft_p50_ms": 10.0, "cpu_us_per_token": 100.0},
        "tokenwire": {"ttft_p50_ms": 10.4, "cpu_us_per_token": 70.0},
        "LiteLLM proxy": {"ttft_p50_ms": 20.0, "cpu_us_per_token": 150.0},
    }
    ladder = {
        "bare loop": {"max_k": 100, "steps": []},
        "tokenwire (native)": {"max_k": 250, "steps": []},
        "tokenwire (native, lean model)": {"max_k": 300, "steps": []},
        "LiteLLM proxy": {"max_k": 50, "steps": []},
    }
    return {
        "peers": {"servers": peers, "skipped": {}},
        "peer_ladder": {"rungs": [50, 100], "servers": ladder},
        "idle_stream": {"ratio": 1.05},
        "token_memory": {"ratio": 1.5, "tokenwire": {"bytes_per_event": 250.0,
                                                    "expired_growth": 0.2}},
        "provider_disconnect": {"tokenwire": {"p99_ms": 12.0}},
        "streaming": {"many": {"streams": 10_000, "completed": 10_000, "errors": {}}},
    }  # fmt: skip


def _verdicts(results: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {row[0]: (row[2], row[3]) for row in targets.realistic_rows(results)}


def test_each_target_gets_its_verdict() -> None:
    found = _verdicts(_results())
    assert found["added TTFT over the bare loop, p50"] == ("+0.40 ms", "met")
    assert found["CPU per token ÷ bare loop"] == ("0.70x", "met")
    assert found["CPU per token ÷ LiteLLM proxy"] == ("0.47x", "**not met**")
    assert found["concurrent streams ÷ bare loop"] == ("2.50x", "met")
    assert found["concurrent streams ÷ LiteLLM proxy"] == ("5.00x", "met")
    assert found["concurrent streams, lean model ÷ bare loop"] == ("3.00x", "**not met**")
    assert found["memory per idle stream ÷ bare loop"] == ("1.05x", "met")
    assert found["RSS per live token ÷ bare loop"] == ("1.50x", "**not met**")
    assert found["bytes per retained token event"] == ("250 B", "met")
    assert found["RSS after retention expiry, growth over start"] == ("+20.0%", "**not met**")
    assert found["client disconnect → provider request closed, p99 (grace 0)"][1] == "met"
    assert found["10,000 slow streams"][1] == "met"


def test_an_unmeasured_target_says_so() -> None:
    rows = targets.realistic_rows({})
    assert len(rows) == 12
    assert all(row[2] == targets.NOT_MEASURED and row[3] == "" for row in rows)


def test_errors_in_many_streams_fail_the_target() -> None:
    results = _results()
    results["streaming"]["many"] = {"streams": 10_000, "completed": 9_990, "errors": {"x": 10}}
    assert _verdicts(results)["10,000 slow streams"][1] == "**not met**"


def test_report_has_the_heading_and_no_in_process_table_without_streaming() -> None:
    text = targets.report(_results() | {"streaming": {}})
    assert text.startswith(targets.HEADING)
    assert "In-process model" not in text
