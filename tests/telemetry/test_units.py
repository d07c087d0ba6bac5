from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tokenwire.telemetry.pipeline import TelemetryPipeline
from tokenwire.telemetry.record import RunRecord
from tokenwire.telemetry.stats import format_stats


def _record(route: str = "chat", **changes: object) -> RunRecord:
    base: dict[str, object] = dict(
        run_id="r", trace_id="0" * 32, route=route, model="mock", provider="openai",
        key_alias="anonymous", cohort="stream", status="completed", error_code=None,
        started_at=0.0, duration_s=1.0, ttft_s=0.3, itl_p50_s=0.02, itl_p95_s=0.03,
        itl_max_s=0.04, stalls=0, input_tokens=10, output_tokens=20, cached_input_tokens=0,
        estimated=False, cost_usd=0.001, token_events=20, tokens_after_disconnect=0,
    )  # fmt: skip
    base.update(changes)
    return RunRecord(**base)  # type: ignore[arg-type]


async def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    seen: list[int] = []

    class Slow:
        name = "slow"

        async def export(self, records: object) -> None:
            seen.append(len(records))  # type: ignore[arg-type]
            await asyncio.sleep(0.01)

        def close(self) -> None:
            return None

    drops: list[tuple[str, int]] = []
    pipeline = TelemetryPipeline([Slow()], max_queue=3, on_drop=lambda e, n: drops.append((e, n)))
    for _ in range(10):
        pipeline.submit(_record())  # never blocks
    assert pipeline.dropped == 7 and drops == [("queue", 1)] * 7
    await pipeline.aclose()
    assert sum(seen) == 3


async def test_a_failing_exporter_loses_its_batch_not_the_others() -> None:
    got: list[RunRecord] = []

    class Broken:
        name = "broken"

        def export(self, records: object) -> None:
            raise RuntimeError("collector down")

        def close(self) -> None:
            return None

    class Good:
        name = "good"

        def export(self, records: Sequence[RunRecord]) -> None:
            got.extend(records)

        def close(self) -> None:
            return None

    pipeline = TelemetryPipeline([Broken(), Good()])
    pipeline.submit(_record())
    await pipeline.aclose()
    assert len(got) == 1 and pipeline.dropped == 1


def test_stats_table_groups_by_route_and_model() -> None:
    records = [_record().to_json() for _ in range(3)]
    records.append(_record(route="rag", cost_usd=None, status="failed").to_json())
    table = format_stats(records)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["route", "model", "runs", "errors"]
    chat = next(line for line in lines if line.startswith("chat"))
    assert chat.split()[2:4] == ["3", "0"] and "300.0ms" in chat and chat.endswith("0.003000")
    rag = next(line for line in lines if line.startswith("rag"))
    assert rag.split()[2:4] == ["1", "1"] and rag.endswith("n/a")


def test_observe_many_counts_like_observe_one_by_one() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from tokenwire.telemetry.metrics import observe_many

    values = [0.0, 0.004, 0.005, 0.0051, 0.02, 0.02, 0.7, 3.0, 1e9]
    buckets = (0.005, 0.02, 1.0)
    one, many = CollectorRegistry(), CollectorRegistry()
    by_one = Histogram("gap", "g", buckets=buckets, registry=one)
    for value in values:
        by_one.observe(value)
    observe_many(Histogram("gap", "g", buckets=buckets, registry=many), values)

    def samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        return [
            (s.name, s.labels, s.value)
            for metric in registry.collect()
            for s in metric.samples
            if not s.name.endswith("_created")
        ]

    assert samples(many) == samples(one)
