"""A real Prometheus (Debian's ``prometheus``) scraping a live gateway: it negotiates
OpenMetrics, stores the latency histograms' trace-id exemplars, and sees the series that
start at zero before any run."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tokenwire.routes import Route
from tokenwire.testing import (
    ScriptedChatModel,
    collect,
    free_port,
    poll_until,
    serve,
    text_turn,
)

PROMETHEUS = shutil.which("prometheus")


@pytest.fixture
def gateway() -> Iterator[httpx.Client]:
    model = ScriptedChatModel(turns=[text_turn("a", "b", "c", usage=(3, 3))])
    with serve([Route("chat", model)]) as client:
        yield client


@pytest.fixture
def prometheus(gateway: httpx.Client, tmp_path: Path) -> Iterator[httpx.Client]:
    """Prometheus scraping ``gateway`` every second, exemplar storage on; a client on its
    HTTP API."""
    if PROMETHEUS is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is required on CI (apt-get install prometheus)")
        pytest.skip("prometheus is not installed")
    target = urlparse(str(gateway.base_url)).netloc
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: tokenwire\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--enable-feature=exemplar-storage",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            poll_until(lambda: _ready(api), timeout=30, interval=0.1, message="not ready")
            yield api
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/-/ready").status_code == 200
    except httpx.TransportError:
        return False


def _query(api: httpx.Client, query: str) -> list[dict[str, Any]]:
    answer = api.get("/api/v1/query", params={"query": query}).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def _exemplars(api: httpx.Client, query: str) -> list[dict[str, Any]]:
    now = time.time()
    params: dict[str, str | float] = {"query": query, "start": now - 600, "end": now + 60}
    answer = api.get("/api/v1/query_exemplars", params=params).json()
    assert answer["status"] == "success", answer
    return [e for series in answer["data"] for e in series["exemplars"]]


def test_prometheus_stores_trace_id_exemplars_and_sees_series_at_zero(
    gateway: httpx.Client, prometheus: httpx.Client
) -> None:
    # Before any run: the series exist at zero for Prometheus too (rate() has a start).
    failed = 'tokenwire_runs_total{route="chat",status="failed",protocol="native"}'
    zero = poll_until(lambda: _query(prometheus, failed) or None, timeout=30, interval=0.2)
    assert [float(s["value"][1]) for s in zero] == [0.0]
    assert zero[0]["metric"]["key_alias"] == "anonymous"
    trace_id = collect(gateway, "chat", {"input": "x"})[0].data["trace_id"]
    for family in (
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_operation_duration_seconds",
    ):
        query = f'{family}_bucket{{route="chat"}}'
        stored = poll_until(
            lambda query=query: _exemplars(prometheus, query) or None,  # type: ignore[misc]
            timeout=30,
            interval=0.2,
            message=f"no exemplar on {family}",
        )
        assert [e["labels"] for e in stored] == [{"trace_id": trace_id}], family
    completed = 'tokenwire_runs_total{route="chat",status="completed"}'
    done = poll_until(
        lambda: [s for s in _query(prometheus, completed) if s["value"][1] == "1"] or None,
        timeout=30,
        interval=0.2,
    )
    assert done[0]["metric"]["gen_ai_request_model"] == "scripted-1"
