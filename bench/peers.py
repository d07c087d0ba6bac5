"""The realistic path, side by side (issues #22, #23): every server in front of the same
``ChatOpenAI`` → one mock provider, each in its own process, measured in one run.

Servers and how each is asked (a 20-token answer for TTFT, 2,000 tokens for cost):

- **bare loop**: a Starlette endpoint streaming ``ChatOpenAI.astream`` as SSE;
- **tokenwire** native (``/v1/routes/{route}/runs``), **tokenwire OpenAI**
  (``/v1/chat/completions``) and **tokenwire LangGraph API** (a stateless
  ``/runs/stream``, ``messages-tuple``, on :mod:`bench.peer_graph`) — one process, with the
  PII guard, telemetry and the audit trail on;
- **LangServe** (``add_routes`` of the model, ``/stream``);
- **LiteLLM proxy** (``/v1/chat/completions``) and **langgraph dev** (the same graph as
  tokenwire's LangGraph API), from venvs of their own (:mod:`bench.peer_servers`).

* **TTFT**: request sent → the first bytes of the answer's first token (every server's
  first answer event holds ``"You`` — the mock says "You said: …"), one request to each in
  turn, a fresh order each turn, reported as added to the bare loop's;
* **CPU per token**: each server process's CPU time over 2,000-token answers, as a ratio
  to the bare loop's; and the wall time per token.

``BENCH_QUICK=1`` shortens it. A peer that cannot be installed (no registry) is left out,
with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from bench.clients import Target, stream_once
from bench.fake_model import prompt
from bench.peer_servers import LANGGRAPH_CLI, LITELLM, LanggraphDev, LitellmProxy, peer_command
from bench.servers import ServerProcess

__all__ = ["report", "run"]

QUICK = os.environ.get("BENCH_QUICK") == "1"
TTFT_REQUESTS = 20 if QUICK else 100
WARM_UP = 3
COST_REPEATS = 2 if QUICK else 5
COST_TOKENS = 2_000
MARKER = b'"You'

Body = Callable[[str], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class PeerTarget(Target):
    """A target whose request body is ``body(text)`` (each API says it its own way)."""

    body: Body = lambda text: {"input": text}

    def request(self, text: str) -> bytes:
        body = orjson.dumps(self.body(text))
        return (
            f"POST {self.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


def _chat(model: str) -> Body:
    return lambda text: {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "stream": True,
    }


def _graph(graph: str) -> Body:
    return lambda text: {
        "assistant_id": graph,
        "input": {"messages": [{"role": "user", "content": text}]},
        "stream_mode": ["messages-tuple"],
    }


def _targets(name: str, port: int) -> tuple[PeerTarget, PeerTarget]:
    """``(short, long)``: the 20-token and the 2,000-token way of asking ``name``."""

    def pair(short: tuple[str, Body], long: tuple[str, Body]) -> tuple[PeerTarget, PeerTarget]:
        return (
            PeerTarget(name, port, short[0], MARKER, {}, short[1]),
            PeerTarget(name, port, long[0], MARKER, {}, long[1]),
        )

    def text(t: str) -> dict[str, Any]:
        return {"input": t}

    if name == "bare loop":
        return pair(("/stream-openai-short", text), ("/stream-openai", text))
    if name == "tokenwire":
        return pair(("/v1/routes/openai_short/runs", text), ("/v1/routes/openai/runs", text))
    if name == "tokenwire OpenAI":
        completions = "/v1/chat/completions"
        return pair((completions, _chat("openai_short")), (completions, _chat("openai")))
    if name in ("tokenwire LangGraph API", "langgraph dev"):
        return pair(("/runs/stream", _graph("graph")), ("/runs/stream", _graph("long_graph")))
    if name == "LangServe":
        return pair(("/openai_short/stream", text), ("/openai/stream", text))
    if name == "LiteLLM proxy":
        completions = "/v1/chat/completions"
        return pair((completions, _chat("short")), (completions, _chat("long")))
    raise ValueError(name)


def run() -> dict[str, Any]:
    skipped = {}
    for peer in ("langgraph", "litellm"):
        try:
            peer_command(peer)
        except (OSError, subprocess.SubprocessError) as exc:
            skipped[peer] = f"could not be installed: {exc}"
    return asyncio.run(_measure(skipped))


@contextlib.contextmanager
def _servers(skipped: dict[str, str]) -> Iterator[dict[str, ServerProcess]]:
    with contextlib.ExitStack() as stack:
        mock = stack.enter_context(ServerProcess("mock"))
        env = {"BENCH_MOCK_URL": f"http://127.0.0.1:{mock.port}"}
        tokenwire = stack.enter_context(ServerProcess("tokenwire", env))
        servers = {
            "bare loop": stack.enter_context(ServerProcess("bare", env)),
            "tokenwire": tokenwire,
            "tokenwire OpenAI": tokenwire,
            "tokenwire LangGraph API": tokenwire,
            "LangServe": stack.enter_context(ServerProcess("langserve", env)),
        }
        if "litellm" not in skipped:
            servers["LiteLLM proxy"] = stack.enter_context(LitellmProxy(env))
        if "langgraph" not in skipped:
            servers["langgraph dev"] = stack.enter_context(LanggraphDev(env))
        yield servers


async def _measure(skipped: dict[str, str]) -> dict[str, Any]:
    with _servers(skipped) as servers:
        targets = {name: _targets(name, server.port) for name, server in servers.items()}
        for name, (short, _long) in targets.items():  # each answers, with the mock's text
            first = await stream_once(short, prompt(20), keep_body=True)
            assert first.first_token is not None, (name, first.status, first.body[:300])
        firsts: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        shuffle = random.Random(22).shuffle
        for _ in range(TTFT_REQUESTS + WARM_UP):
            shuffle(names)
            for name in names:
                stream = await stream_once(targets[name][0], prompt(20))
                assert stream.first_token is not None, name
                firsts[name].append(stream.first_token - stream.started)
        cost = {name: await _cost(servers[name], long) for name, (_short, long) in targets.items()}
    figures = {
        name: {
            "ttft_p50_ms": _pct(firsts[name][WARM_UP:], 0.5) * 1e3,
            "ttft_p95_ms": _pct(firsts[name][WARM_UP:], 0.95) * 1e3,
            **cost[name],
        }
        for name in targets
    }
    return {"servers": figures, "skipped": skipped}


async def _cost(server: ServerProcess, target: PeerTarget) -> dict[str, float]:
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
    servers = results["servers"]
    bare = servers["bare loop"]
    rows = [
        f"| {name} | {r['ttft_p50_ms'] - bare['ttft_p50_ms']:+.1f} ms | "
        f"{r['ttft_p95_ms'] - bare['ttft_p95_ms']:+.1f} ms | {r['ttft_p50_ms']:.1f} ms | "
        f"{r['cpu_us_per_token']:.0f} µs ({r['cpu_us_per_token'] / bare['cpu_us_per_token']:.2f}x)"
        f" | {r['wall_us_per_token']:.0f} µs |"
        for name, r in servers.items()
    ]
    left_out = [f"- {peer}: {why}" for peer, why in results["skipped"].items()]
    return "\n".join(
        [
            "## The realistic path, side by side (issues #22, #23)\n",
            "Every server in front of the same `ChatOpenAI` → one mock provider, each in its own "
            f"process, measured in one run (`bench/peers.py`). TTFT: {TTFT_REQUESTS} requests "
            "to each in turn (20-token answers), added to the bare loop's; CPU: the server "
            f"process over {COST_REPEATS} {COST_TOKENS:,}-token answers (the tokenwire rows "
            "share one process, measured one after another). tokenwire runs the PII guard, "
            f"telemetry and the audit trail. Peers: `{LITELLM}`, `{LANGGRAPH_CLI}` "
            "(`langgraph dev`), each in its own venv.\n",
            "| server | added TTFT p50 | added TTFT p95 | TTFT p50 | server CPU per token "
            "(÷ bare loop) | wall per token |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
            *(["\nLeft out:", *left_out] if left_out else []),
            "",
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    measured = run()
    json.dump(measured, sys.stdout, indent=2)
    print()
    print(report(measured), file=sys.stderr)
