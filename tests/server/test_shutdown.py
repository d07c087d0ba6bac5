"""SIGTERM on a real ``tokenwire serve``: live streams finish within the grace period, the
rest end with ``incomplete_stream`` and ``run.end`` before the process exits; and
``Gateway.drain`` as a library call."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import free_port, iter_sse, wait_ready


def test_sigterm_drains_live_streams(mock_server: BackgroundServer, tmp_path: Path) -> None:
    (tmp_path / "chains.py").write_text(
        "import os\nfrom langchain_openai import ChatOpenAI\n"
        "def _model(profile):\n"
        "    return ChatOpenAI(base_url=os.environ['MOCK_URL'], api_key='k',\n"
        "                      model='mock@' + profile, max_retries=0)\n"
        "quick = _model('tokens=30,itl=30')\n"
        "endless = _model('tokens=2000,itl=30')\n"
    )
    (tmp_path / "tokenwire.toml").write_text(
        '[gateway]\nshutdown_grace_seconds = 1.5\nheartbeat_seconds = 0.2\nauth = "none"\n\n'
        '[routes.quick]\ntarget = "chains.py:quick"\n\n'
        '[routes.endless]\ntarget = "chains.py:endless"\n'
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tokenwire",
                "serve",
                "--config",
                "tokenwire.toml",
                "--port",
                str(port),
            ],
            cwd=tmp_path,
            # A data dir (audit store) of its own: nothing shared with other servers.
            env={
                **os.environ,
                "MOCK_URL": f"{mock_server.url}/v1",
                "TOKENWIRE_DATA_DIR": str(tmp_path),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_ready(url, proc, log)
        headers = {"Accept": "text/event-stream"}
        with (
            httpx.Client(base_url=url, timeout=30) as client,
            client.stream(
                "POST", "/v1/routes/quick/runs", json={"input": "hi"}, headers=headers
            ) as quick,
            client.stream(
                "POST", "/v1/routes/endless/runs", json={"input": "hi"}, headers=headers
            ) as endless,
        ):
            quick_events, endless_events = iter_sse(quick), iter_sse(endless)
            first = [next(quick_events), next(quick_events), next(endless_events)]
            assert [e.event for e in first] == ["run.start", "token", "run.start"]
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            rest_quick = list(quick_events)
            rest_endless = list(endless_events)
            ended = time.monotonic() - signalled
        # The short run finished normally inside the grace period...
        assert rest_quick[-1].data["status"] == "completed"
        assert len(rest_quick[-1].data["output"].split()) == 30
        # ...the long one was cut after it, with a typed error the client can act on.
        error, usage, end = rest_endless[-3:]
        assert error.event == "error" and error.data == {
            "code": "incomplete_stream",
            "message": "the gateway shut down before the run finished",
            "retryable": True,
        }
        assert usage.event == "usage" and end.event == "run.end"
        assert end.data["status"] == "failed" and end.data["error"]["code"] == "incomplete_stream"
        assert end.data["output"] == "".join(
            e.data["text"] for e in [first[2], *rest_endless] if e.event == "token"
        )
        # The grace period was waited out (a lower bound: load only lengthens it); the cut
        # itself is proven by incomplete_stream above, not by a wall-clock ceiling.
        assert ended >= 1.4
        # uvicorn re-raises the captured SIGTERM once shut down cleanly.
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in log.read_text()
        # No longer accepting connections.
        try:
            httpx.get(f"{url}/healthz", timeout=1)
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("still serving after shutdown")
    except BaseException:
        print(log.read_text())  # the server's side of the story, for a failing run
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _quick(_: Any) -> AsyncIterator[str]:
    for i in range(3):
        await asyncio.sleep(0.01)
        yield f"q{i} "


async def _endless(_: Any) -> AsyncIterator[str]:
    while True:
        await asyncio.sleep(0.01)
        yield "t "


async def test_drain_as_a_library_call() -> None:
    routes = [Route("quick", RunnableLambda(_quick)), Route("endless", RunnableLambda(_endless))]
    gateway = Gateway(routes, Settings(auth="none"))
    quick, _ = await gateway.start_run("quick", "x")
    endless, _ = await gateway.start_run("endless", "x")
    await gateway.drain(0.3)
    assert quick.status.value == "completed" and quick.summary["output"] == "q0 q1 q2 "
    assert endless.status.value == "failed"
    assert endless.summary["error"]["code"] == "incomplete_stream"
    assert endless.summary["output"].startswith("t t ")
    assert gateway.reliability.stats.incomplete_at_shutdown == 1
    await gateway.aclose()
