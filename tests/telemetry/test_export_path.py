"""The export path stays off the event loop, counts what it loses, and closes in bounded time."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from tests.telemetry.otlp_receiver import receiver
from tests.telemetry.test_units import _record
from tokenwire.config import Settings
from tokenwire.server.background import BackgroundServer
from tokenwire.telemetry.collector import Telemetry
from tokenwire.telemetry.jsonl import JsonlExporter
from tokenwire.telemetry.otlp import OtlpExporter
from tokenwire.telemetry.pipeline import TelemetryPipeline
from tokenwire.telemetry.record import RunRecord


class _ThreadNoting(OtlpExporter):
    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        self.threads: list[int] = []

    def export(self, records: Sequence[RunRecord]) -> None:
        self.threads.append(threading.get_ident())
        super().export(records)


class _JsonlThreadNoting(JsonlExporter):
    threads: list[int]

    def export(self, records: Sequence[RunRecord]) -> None:  # type: ignore[override]
        self.threads.append(threading.get_ident())
        super().export(records)


async def test_otlp_and_jsonl_work_runs_on_the_export_thread_not_the_loop(tmp_path: Path) -> None:
    with receiver() as received:
        otlp = _ThreadNoting(received.url)
        jsonl = _JsonlThreadNoting(tmp_path / "runs.jsonl")
        jsonl.threads = []
        pipeline = TelemetryPipeline([otlp, jsonl])
        pipeline.submit(_record())
        await pipeline.flush()
        loop_thread = threading.get_ident()
        assert otlp.threads and loop_thread not in otlp.threads
        assert jsonl.threads and loop_thread not in jsonl.threads
        await pipeline.aclose()
    assert received.spans()


async def test_a_blocked_exporter_leaves_the_loop_running() -> None:
    release = threading.Event()
    entered = threading.Event()
    released: list[bool] = []

    class Blocking:
        name = "blocking"

        def export(self, records: Sequence[RunRecord]) -> None:
            entered.set()
            # Only the loop sets ``release``: on the loop itself this wait can never succeed.
            released.append(release.wait(10))

        def close(self) -> None:
            return None

    pipeline = TelemetryPipeline([Blocking()])
    pipeline.submit(_record())
    assert await asyncio.to_thread(entered.wait, 10)  # the loop turns while export() is held
    release.set()  # the loop runs this while export() is still blocked
    await pipeline.aclose()
    assert released == [True]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _failing_receiver() -> Starlette:
    async def refuse(request: Request) -> Response:
        await request.body()
        return Response(b"down", status_code=500)

    return Starlette(routes=[HttpRoute("/v1/traces", refuse, methods=["POST"]),
                             HttpRoute("/v1/metrics", refuse, methods=["POST"])])  # fmt: skip


@pytest.fixture(params=["nothing-listening", "http-500"])
def dead_collector(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "nothing-listening":
        yield f"http://127.0.0.1:{_free_port()}"
    else:
        with BackgroundServer(_failing_receiver()) as server:
            yield server.url


def _dropped(telemetry: Telemetry, exporter: str) -> float:
    value = telemetry.metrics.registry.get_sample_value(
        "tokenwire_telemetry_dropped_total", {"exporter": exporter}
    )
    return value or 0.0


async def test_failed_otlp_delivery_is_counted_as_dropped(dead_collector: str) -> None:
    telemetry = Telemetry(Settings(auth="none"))
    # The OTLP exporter gives up after 1 s; the pipeline's grace is far longer, so its close
    # finishes and every failure has been counted by the time aclose returns.
    otlp = OtlpExporter(dead_collector, timeout=1, on_drop=telemetry._count_drop)
    pipeline = TelemetryPipeline([otlp], grace=120)
    for _ in range(3):
        pipeline.submit(_record())
    await pipeline.aclose()  # flushes spans and metrics into the dead collector
    assert pipeline.unclosed == []
    assert otlp.dropped["otlp"] == 3
    assert _dropped(telemetry, "otlp") == 3  # one span per run
    assert _dropped(telemetry, "otlp_metrics") > 0


async def test_close_with_a_blackholed_collector_gives_up_at_the_grace() -> None:
    # Accepts connections (backlog) and never answers: every OTLP request hangs.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)
        endpoint = f"http://127.0.0.1:{hole.getsockname()[1]}"
        otlp = OtlpExporter(endpoint, timeout=30)
        pipeline = TelemetryPipeline([otlp], grace=0.2)
        pipeline.submit(_record())
        await pipeline.aclose()
        assert pipeline.unclosed == ["otlp"]  # returned while the exporter still hung


async def test_records_still_queued_at_the_grace_are_abandoned_and_counted() -> None:
    release = threading.Event()

    class Stuck:
        name = "stuck"

        def export(self, records: Sequence[RunRecord]) -> None:
            release.wait(10)

        def close(self) -> None:
            return None

    drops: list[tuple[str, int]] = []
    pipeline = TelemetryPipeline(
        [Stuck()], max_batch=1, grace=0.05, on_drop=lambda e, n: drops.append((e, n))
    )
    for _ in range(5):
        pipeline.submit(_record())
    try:
        await pipeline.aclose()
        assert pipeline.abandoned == 4 and drops == [("shutdown", 4)]
        assert pipeline.unclosed == ["stuck"]
    finally:
        release.set()


async def test_jsonl_writes_every_record_in_order(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    pipeline = TelemetryPipeline([JsonlExporter(path)], max_batch=7)
    for i in range(200):
        pipeline.submit(_record(run_id=f"r{i}"))
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the worker take partial batches too
    await pipeline.aclose()
    ids = [orjson.loads(line)["run_id"] for line in path.read_bytes().splitlines()]
    assert ids == [f"r{i}" for i in range(200)]
