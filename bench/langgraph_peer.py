"""tokenwire's LangGraph server API against ``langgraph dev``, side by side (issue #23).

The same graph (:mod:`bench.peer_graph`: one node, ``ChatOpenAI`` on one mock provider)
served by both, each in its own process, both asked the same way: a stateless
``POST /runs/stream`` with ``stream_mode: ["messages-tuple"]``, read by the raw client of
:mod:`bench.clients`.

* **TTFT**: request sent → the first ``messages`` event holding answer text, one request
  to each server in turn (a fresh order each turn), a 20-token answer;
* **CPU per token**: each server process's CPU time over 2,000-token answers.

``langgraph dev`` (``langgraph-cli[inmem]``, pinned below) lives in a venv of its own,
made on first use at ``$BENCH_LANGGRAPH_VENV`` (default ``.bench-venvs/langgraph``), and
runs with ``--no-browser --no-reload``, analytics and LangSmith tracing off. Without it
(no package registry), the section says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.clients import Target, stream_once
from bench.fake_model import prompt
from bench.servers import ServerProcess

__all__ = ["report", "run"]

LANGGRAPH_CLI = "langgraph-cli[inmem]==0.4.40"
_ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("BENCH_LANGGRAPH_VENV", _ROOT / ".bench-venvs" / "langgraph"))
QUICK = os.environ.get("BENCH_QUICK") == "1"
TTFT_REQUESTS = 20 if QUICK else 100
WARM_UP = 3
COST_REPEATS = 2 if QUICK else 5
COST_TOKENS = 2_000
#: The mock answers "You said: ..." — the first event with answer text holds this.
MARKER = b'"content":"You'


def _venv() -> Path:
    """The ``langgraph`` command of the peer's venv, made when missing."""
    command = VENV / "bin" / "langgraph"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, LANGGRAPH_CLI, "langchain-openai"], check=True, timeout=900)
    return command


class LanggraphDev(ServerProcess):
    """``langgraph dev`` on :mod:`bench.peer_graph`, from a scratch project directory."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__("langgraph-dev", env)
        self._project = Path(tempfile.mkdtemp(prefix="bench-langgraph-"))

    def __enter__(self) -> LanggraphDev:
        shutil.copy(_ROOT / "bench" / "peer_graph.py", self._project / "peer_graph.py")
        graphs = {"graph": "./peer_graph.py:graph", "long_graph": "./peer_graph.py:long_graph"}
        config = {"graphs": graphs, "dependencies": ["."]}
        (self._project / "langgraph.json").write_text(json.dumps(config))
        self.port = _free_port()
        env = {**self._env, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
        argv = [str(_venv()), "dev", "--host", "127.0.0.1", "--port", str(self.port)]
        self._proc = subprocess.Popen(
            [*argv, "--no-browser", "--no-reload"],
            cwd=self._project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        self._wait_ready(timeout=120)
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._project, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GraphTarget(Target):
    """A stateless LangGraph API run of ``graph``: the text as the graph's messages."""

    @classmethod
    def on(cls, kind: str, port: int, graph: str) -> GraphTarget:
        body: dict[str, object] = {"assistant_id": graph, "stream_mode": ["messages-tuple"]}
        return cls(kind, port, "/runs/stream", MARKER, body)

    def request(self, text: str) -> bytes:
        messages = [{"role": "user", "content": text}]
        body = orjson.dumps({**self.route_body, "input": {"messages": messages}})
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


def run() -> dict[str, Any]:
    try:
        _venv()
    except (OSError, subprocess.SubprocessError) as exc:
        return {"skipped": f"langgraph dev could not be installed: {exc}"}
    return asyncio.run(_measure())


@contextlib.contextmanager
def _servers() -> Iterator[dict[str, ServerProcess]]:
    with ServerProcess("mock") as mock:
        env = {"BENCH_MOCK_URL": f"http://127.0.0.1:{mock.port}"}
        with ServerProcess("tokenwire", env) as tokenwire, LanggraphDev(env) as dev:
            yield {"tokenwire": tokenwire, "langgraph dev": dev}


async def _measure() -> dict[str, Any]:
    with _servers() as servers:
        short = {name: GraphTarget.on(name, s.port, "graph") for name, s in servers.items()}
        for target in short.values():  # both answer, and with the text the mock says
            first = await stream_once(target, prompt(20), keep_body=True)
            assert first.first_token is not None, (target.kind, first.body[:300])
        firsts: dict[str, list[float]] = {name: [] for name in short}
        names = list(short)
        for _ in range(TTFT_REQUESTS + WARM_UP):
            random.Random(len(firsts[names[0]])).shuffle(names)
            for name in names:
                stream = await stream_once(short[name], prompt(20))
                assert stream.first_token is not None, name
                firsts[name].append(stream.first_token - stream.started)
        cost = {
            name: await _cpu_per_token(server, GraphTarget.on(name, server.port, "long_graph"))
            for name, server in servers.items()
        }
    return {
        name: {
            "ttft_p50_ms": _pct(firsts[name][WARM_UP:], 0.5) * 1e3,
            "ttft_p95_ms": _pct(firsts[name][WARM_UP:], 0.95) * 1e3,
            **cost[name],
        }
        for name in servers
    }


async def _cpu_per_token(server: ServerProcess, target: Target) -> dict[str, float]:
    await stream_once(target, prompt(COST_TOKENS))  # warm
    cpu0 = server.cpu_seconds()
    walls = []
    for _ in range(COST_REPEATS):
        stream = await stream_once(target, prompt(COST_TOKENS))
        walls.append(stream.duration)
    tokens = COST_REPEATS * COST_TOKENS
    return {
        "cpu_us_per_token": (server.cpu_seconds() - cpu0) / tokens * 1e6,
        "wall_us_per_token": statistics.median(walls) / COST_TOKENS * 1e6,
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(results: dict[str, Any]) -> str:
    head = "## The LangGraph server API against `langgraph dev` (issue #23)\n"
    if "skipped" in results:
        return f"{head}\nNot measured: {results['skipped']}.\n"
    tw, dev = results["tokenwire"], results["langgraph dev"]
    rows = [
        f"| {name} | {r['ttft_p50_ms']:.1f} ms | {r['ttft_p95_ms']:.1f} ms | "
        f"{r['cpu_us_per_token']:.0f} µs | {r['wall_us_per_token']:.0f} µs |"
        for name, r in results.items()
    ]
    return "\n".join(
        [
            head,
            "The same one-node graph (`bench/peer_graph.py`: `ChatOpenAI` on one mock provider), "
            f"stateless `POST /runs/stream` with `messages-tuple`; TTFT over {TTFT_REQUESTS} "
            f"requests to each in turn (20-token answers), CPU of each server process over "
            f"{COST_REPEATS} {COST_TOKENS:,}-token answers. `{LANGGRAPH_CLI}` runs "
            "`langgraph dev --no-browser --no-reload`.\n",
            "| server | TTFT p50 | TTFT p95 | server CPU per token | wall per token |",
            "|---|---:|---:|---:|---:|",
            *rows,
            f"\n`langgraph dev` ÷ tokenwire: TTFT p50 "
            f"**{dev['ttft_p50_ms'] / tw['ttft_p50_ms']:.1f}x**"
            f" (+{dev['ttft_p50_ms'] - tw['ttft_p50_ms']:.1f} ms), CPU per token "
            f"**{dev['cpu_us_per_token'] / tw['cpu_us_per_token']:.2f}x**.\n",
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    results = run()
    json.dump(results, sys.stdout, indent=2)
    print()
    print(report(results), file=sys.stderr)
