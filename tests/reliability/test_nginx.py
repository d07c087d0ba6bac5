"""tokenwire behind nginx (the Debian package, run as our own process with docs/nginx.conf):
tokens arrive unbuffered, heartbeats outlive proxy_read_timeout, rejoining works."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import Live
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.testing import free_port, iter_sse, rejoin, start_stream

DOCS_CONF = Path(__file__).parents[2] / "docs" / "nginx.conf"
PROMPT = "Tell me about reliable streaming"


def _nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
    )
    if found is None:
        message = "nginx is not installed (`make system-deps` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)  # on CI this test must run, never skip
        pytest.skip(message)
    return found


def _site_config(upstream_port: int, listen_port: int, read_timeout: str) -> str:
    """docs/nginx.conf, pointed at the test's gateway and port, with a short read timeout."""
    text = DOCS_CONF.read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{listen_port};",
        "proxy_read_timeout 60s;": f"proxy_read_timeout {read_timeout};",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"docs/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[int], str]]:
    """``nginx(gateway_port)`` → the URL of an nginx proxying to it (proxy_read_timeout 1s)."""
    binary = _nginx_binary()
    procs: list[subprocess.Popen[bytes]] = []

    def start(upstream_port: int) -> str:
        port = free_port()
        (tmp_path / "tokenwire.conf").write_text(_site_config(upstream_port, port, "1s"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\n"
            f"error_log {tmp_path}/error.log warn;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n"
            + "".join(
                f"  {kind}_temp_path {tmp_path}/{kind};\n"
                for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {tmp_path}/tokenwire.conf;\n}}\n"
        )
        with (tmp_path / "stderr.log").open("wb") as stderr:
            proc = subprocess.Popen(
                [
                    binary,
                    "-c",
                    str(tmp_path / "nginx.conf"),
                    "-p",
                    str(tmp_path),
                    "-g",
                    "daemon off;",
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        procs.append(proc)
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise AssertionError((tmp_path / "stderr.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return f"http://127.0.0.1:{port}"
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.02)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_first_token_arrives_through_nginx_while_the_answer_streams(
    live: Callable[..., Live], mock_url: str, nginx: Callable[[int], str]
) -> None:
    # A 10 s answer: a buffering proxy would hand over the first token only after run.end.
    model = demo_model(f"{mock_url}/v1", "ttft=150,itl=1000,tokens=10")
    gateway = live([Route("chat", model)])
    client = httpx.Client(base_url=nginx(gateway.server.port), timeout=30)
    with client, start_stream(client, "chat", {"input": PROMPT}) as response:
        run_id = response.headers["x-run-id"]
        first = next(e for e in iter_sse(response) if e.event in ("token", "run.end"))
        snapshot = gateway.client.get(f"/v1/runs/{run_id}").json()
    assert first.event == "token"
    assert snapshot["status"] == "running", snapshot


def test_heartbeats_keep_an_idle_stream_open_past_proxy_read_timeout(
    live: Callable[..., Live], mock_url: str, nginx: Callable[[int], str]
) -> None:
    # 2.5 s before the first token; nginx gives up on a silent upstream after 1 s.
    model = demo_model(f"{mock_url}/v1", "ttft=2500,tokens=3")
    gateway = live([Route("chat", model)], heartbeat_seconds=0.3)
    client = httpx.Client(base_url=nginx(gateway.server.port), timeout=30)
    with client, start_stream(client, "chat", {"input": PROMPT}) as response:
        raw = response.read().decode()
    assert raw.count(": ping") >= 5
    assert "event: run.end" in raw and '"status":"completed"' in raw


def test_rejoining_through_nginx_yields_exactly_the_missed_events(
    live: Callable[..., Live], mock_url: str, nginx: Callable[[int], str]
) -> None:
    model = demo_model(f"{mock_url}/v1", "tokens=30,itl=20")
    gateway = live([Route("chat", model)], disconnect_grace_seconds=5)
    with httpx.Client(base_url=nginx(gateway.server.port), timeout=30) as client:
        with start_stream(client, "chat", {"input": PROMPT}) as response:
            reader = iter_sse(response)
            first = [next(reader) for _ in range(6)]
            run_id = response.headers["x-run-id"]
            reader.close()
        rest = rejoin(client, run_id, after=first[-1].id or 0)
    events = first + rest
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].event == "run.end" and events[-1].data["status"] == "completed"
    text = "".join(e.data["text"] for e in events if e.event == "token")
    assert text == events[-1].data["output"] and len(text.split()) == 30
