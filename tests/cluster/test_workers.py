"""``tokenwire serve --workers N`` as a user runs it: one port, N processes, runs shared
through Redis, SIGTERM stops every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tests.redis_client import sync_redis
from tokenwire.testing import free_port, iter_sse

CHAINS = """
import asyncio
from langchain_core.runnables import RunnableLambda

async def _count(n):
    for i in range(int(n)):
        await asyncio.sleep(0.01)
        yield f"t{i} "

count = RunnableLambda(_count)
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _command(*extra: str) -> list[str]:
    """``tokenwire serve`` of ``chains.py:count`` with two workers."""
    serve = ["serve", "chains.py:count", "--no-auth", "--workers", "2", *extra]
    return [sys.executable, "-m", "tokenwire", *serve]


def _serve(
    tmp_path: Path, port: int, env: dict[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    (tmp_path / "chains.py").write_text(CHAINS)
    return subprocess.Popen(
        _command("--mode", "tokens", "--port", str(port)),
        cwd=tmp_path,
        env={**os.environ, "TOKENWIRE_DATA_DIR": str(tmp_path), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_workers_without_redis_are_refused_with_a_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TOKENWIRE_REDIS_URL"}
    (tmp_path / "chains.py").write_text(CHAINS)
    done = subprocess.run(
        _command(),
        cwd=tmp_path,
        env={**env, "TOKENWIRE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "redis_url" in done.stderr


def test_two_workers_share_runs_and_stop_on_sigterm(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"TOKENWIRE_REDIS_URL": redis_url, "TOKENWIRE_REDIS_PREFIX": prefix}
    with (tmp_path / "serve.log").open("wb") as log:
        proc = _serve(tmp_path, port, env, log)
        _exercise(proc, url, tmp_path, redis_url, prefix)
    assert _children(proc.pid) == []


def _exercise(
    proc: subprocess.Popen[bytes], url: str, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "tokenwire did not start"
            time.sleep(0.1)
        assert len(_children(proc.pid)) >= 2
        # Every request on a fresh connection: starts and rejoins land on either worker.
        run_ids = [
            httpx.post(f"{url}/v1/routes/count/runs", json={"input": 30}).json()["run_id"]
            for _ in range(8)
        ]
        for run_id in run_ids:
            with httpx.stream("GET", f"{url}/v1/runs/{run_id}/stream", timeout=30) as response:
                assert response.status_code == 200
                events = list(iter_sse(response))
            text = "".join(e.data["text"] for e in events if e.event == "token")
            assert text == "".join(f"t{i} " for i in range(30))
            assert events[-1].event == "run.end" and events[-1].data["status"] == "completed"
        owners = sync_redis(redis_url)
        replicas = {owners.hget(f"{prefix}:run:{r}", "replica") for r in run_ids}
        assert None not in replicas
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
