"""Debian's ``prometheus`` package in tests: promtool, and a real Prometheus of a test's own
(its port, its data directory, a 1 s scrape interval) that scrapes what the test says."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tokenwire.testing import free_port, poll_until

__all__ = ["PrometheusProcess", "binary", "start_prometheus"]


def binary(name: str) -> str:
    """``/usr/bin/<name>`` of the prometheus package; a skip without it — a failure on CI."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (`make system-deps` installs Debian's prometheus)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # on CI these tests must run, never skip
        pytest.skip(message)
    return found


@dataclass
class PrometheusProcess:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str, **params: str) -> Any:
        """``data`` of a ``/api/v1/…`` answer, which must be a success."""
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: ``[{"metric": {...}, "value": [t, "v"]}, …]``."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", (expr, data)
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_prometheus(
    workdir: Path, targets: list[str], rule_files: list[Path]
) -> PrometheusProcess:
    """A Prometheus on a free loopback port scraping ``targets`` (``host:port``) every second
    and evaluating ``rule_files`` every second, storing under ``workdir``; once it is ready."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": "tokenwire",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": targets}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    prometheus = PrometheusProcess(f"http://127.0.0.1:{port}", process, log)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            return httpx.get(f"{prometheus.url}/-/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll_until(ready, timeout=30, interval=0.1, message=lambda: log.read_text())
    except BaseException:
        prometheus.stop()
        raise
    return prometheus
