"""True clocks (issue #19): what the gateway reports against what a client measures.

* **exporters**: a 5 ms-ITL stream's largest gap, read by the client, while 20,000-token
  runs end around it — with every exporter on (JSONL, OTLP to a local collector, Prometheus
  scraped every 250 ms) and with them off, side by side (target: on ≤ 1.2 x off);
* **burst**: N simultaneous streams; each one's TTFT as its ``run.end`` reports it (from the
  request's arrival) against the client's own clock, from before it connected to the first
  token event read (target: p95 of the difference ≤ 15 ms at 30 streams, ≤ 5 ms at 1).

The gateway runs in its own process, served as ``tokenwire serve`` serves it
(``server_config``: the protocol that stamps arrivals): ``python -m bench.true_clocks PORT``.
``BENCH_QUICK=1`` shortens both.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.clients import Stream, Target, open_stream
from bench.fake_model import prompt

__all__ = ["report", "run"]

QUICK = os.environ.get("BENCH_QUICK") == "1"
_ROOT = Path(__file__).resolve().parent.parent
BURST = 30
HEAVY_TOKENS = 20_000


class _Sink(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP collector that takes everything and answers 200."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@contextlib.contextmanager
def _collector() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _gateway(env: dict[str, str]) -> Iterator[int]:
    data_dir = tempfile.mkdtemp(prefix="tokenwire-bench-clocks-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.true_clocks"],
        cwd=_ROOT,
        env={**os.environ, "TOKENWIRE_DATA_DIR": data_dir, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        _wait_ready(port)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_ready(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        ):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            if sock.recv(64).startswith(b"HTTP/1.1 200"):
                return
        time.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


class _Paced(Stream):
    """A stream that keeps the time of every read (for its largest gap)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads_at: list[float] = []

    def data_received(self, data: bytes) -> None:
        self.reads_at.append(time.perf_counter())
        super().data_received(data)


async def _scrape(port: int, stop: asyncio.Event) -> int:
    scrapes = 0
    while not stop.is_set():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await reader.read()
        writer.close()
        scrapes += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)
    return scrapes


async def _largest_gap(port: int, scrape: bool) -> dict[str, Any]:
    """The probe's largest gap between reads while heavy runs start and end beside it."""
    target = Target.of("tokenwire", port, "chat")
    heavy_runs = 2 if QUICK else 3
    probe = _Paced(target.request(prompt(60_000, delay=0.005, pace="deadline")), target.marker)
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: probe, "127.0.0.1", port)
    await probe.first_seen
    stop = asyncio.Event()
    scraper = asyncio.ensure_future(_scrape(port, stop)) if scrape else None
    # One after another, each yielding to the loop between tokens as a network read would:
    # what is measured is their ends (the records every exporter handles), not their hogging.
    heavy = prompt(HEAVY_TOKENS, delay=0.0001)
    began = time.perf_counter()
    for _ in range(heavy_runs):
        stream = await open_stream(target, heavy)
        await stream.done
    heavy_seconds = time.perf_counter() - began
    await asyncio.sleep(0.5)  # the last end's export
    stop.set()
    scrapes = await scraper if scraper is not None else 0
    probe.close()
    reads = probe.reads_at[1:]  # from the first token on
    gaps = [b - a for a, b in itertools.pairwise(reads)]
    return {
        "max_gap_ms": max(gaps) * 1000,
        "p99_gap_ms": _pct(gaps, 99) * 1000,
        "reads": len(reads),
        "scrapes": scrapes,
        "heavy_seconds": heavy_seconds,
    }


def _ttfts(streams: Sequence[Stream]) -> list[tuple[float, float]]:
    """(client's TTFT, reported TTFT) in ms, per stream."""
    pairs = []
    for stream in streams:
        assert stream.first_token is not None, stream.error
        timings = _run_end(stream.body)["timings"]
        pairs.append(((stream.first_token - stream.started) * 1000, timings["ttft_ms"]))
    return pairs


def _run_end(body: bytes) -> dict[str, Any]:
    for block in reversed(body.split(b"\n\n")):
        if b"event: run.end" in block:
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    data: dict[str, Any] = orjson.loads(line[6:])
                    return data
    raise AssertionError("no run.end in the stream")


async def _burst(port: int, n: int) -> list[tuple[float, float]]:
    target = Target.of("tokenwire", port, "chat")
    text = prompt(20, delay=0.005)
    streams = await asyncio.gather(*(open_stream(target, text, keep_body=True) for _ in range(n)))
    await asyncio.gather(*(s.done for s in streams))
    return _ttfts(streams)


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q / 100))]


def _summary(pairs: list[tuple[float, float]]) -> dict[str, float]:
    differences = [client - reported for client, reported in pairs]
    return {
        "client_p95_ms": _pct([c for c, _ in pairs], 95),
        "reported_p95_ms": _pct([r for _, r in pairs], 95),
        "difference_p50_ms": _pct(differences, 50),
        "difference_p95_ms": _pct(differences, 95),
        "streams": len(pairs),
    }


async def _bursts(port: int) -> dict[str, Any]:
    for _ in range(3):  # warm up: imports, first-run caches
        await _burst(port, 4)
    rounds = 2 if QUICK else 5
    many: list[tuple[float, float]] = []
    for _ in range(rounds):
        many += await _burst(port, BURST)
        await asyncio.sleep(0.2)
    one: list[tuple[float, float]] = []
    for _ in range(10 if QUICK else 30):
        one += await _burst(port, 1)
    return {"burst": _summary(many), "single": _summary(one), "rounds": rounds}


def _gaps(trials: int) -> dict[str, Any]:
    """Off and on, alternating, ``trials`` times each: on a shared machine one trial's
    largest gap is mostly the machine's; the median of several is the comparison."""
    found: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    with _collector() as otlp, tempfile.TemporaryDirectory() as tmp:
        on = {
            "TOKENWIRE_TELEMETRY_JSONL": str(Path(tmp) / "runs.jsonl"),
            "TOKENWIRE_OTLP_ENDPOINT": otlp,
        }
        for _ in range(trials):
            for name, env, scrape in (("off", {}, False), ("on", on, True)):
                with _gateway(env) as port:
                    found[name].append(asyncio.run(_largest_gap(port, scrape)))
    results: dict[str, Any] = {name: _median_trial(runs) for name, runs in found.items()}
    results["trials"] = trials
    results["ratio"] = results["on"]["max_gap_ms"] / results["off"]["max_gap_ms"]
    return results


def _median_trial(trials: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {key: statistics.median(t[key] for t in trials) for key in trials[0]}
    summary["max_gap_each_ms"] = [round(t["max_gap_ms"], 1) for t in trials]
    return summary


def run() -> dict[str, Any]:
    results = _gaps(2 if QUICK else 4)
    with _gateway({}) as port:
        results["ttft"] = asyncio.run(_bursts(port))
    return results


def report(results: dict[str, Any]) -> str:
    on, off, ttft = results["on"], results["off"], results["ttft"]
    burst, single = ttft["burst"], ttft["single"]
    return "\n".join(
        [
            "## True clocks (issue #19)\n",
            f"A 5 ms-ITL stream's largest gap (client's reads) while {HEAVY_TOKENS:,}-token "
            "runs end beside it; exporters on = JSONL + OTLP to a local collector + /metrics "
            f"scraped every 250 ms. Medians of {results['trials']} alternating trials each "
            "(every trial's largest gap in brackets).\n",
            "| exporters | largest gap | p99 gap | probe reads | heavy runs took | scrapes |",
            "|---|---:|---:|---:|---:|---:|",
            _gap_row("off", off),
            _gap_row("on", on),
            f"\nOn/off: **{results['ratio']:.2f}x** (target ≤ 1.2x).\n",
            "TTFT as `run.end` reports it (from the request's arrival) against the client's "
            "clock (connect → first token event read), per stream:\n",
            "| streams | client TTFT p95 | reported p95 | difference p50 | difference p95 |",
            "|---|---:|---:|---:|---:|",
            _ttft_row(f"{BURST} at once x {ttft['rounds']}", burst),
            _ttft_row(f"1 x {single['streams']}", single),
            "\nTargets: difference p95 ≤ 15 ms at 30 streams, ≤ 5 ms at 1.\n",
        ]
    )


def _gap_row(label: str, r: dict[str, Any]) -> str:
    return (
        f"| {label} | {r['max_gap_ms']:.1f} ms ({', '.join(map(str, r['max_gap_each_ms']))}) | "
        f"{r['p99_gap_ms']:.1f} ms | {r['reads']:.0f} | "
        f"{r['heavy_seconds']:.1f} s | {r['scrapes'] or '-'} |"
    )


def _ttft_row(label: str, s: dict[str, float]) -> str:
    return (
        f"| {label} | {s['client_p95_ms']:.1f} ms | {s['reported_p95_ms']:.1f} ms | "
        f"{s['difference_p50_ms']:.1f} ms | {s['difference_p95_ms']:.1f} ms |"
    )


def _serve() -> None:
    """The gateway under test: one route of the bench's word model, served like
    ``tokenwire serve`` (settings from ``TOKENWIRE_*``)."""
    import logging

    import uvicorn

    from bench.fake_model import WordStreamModel
    from tokenwire.config import Settings
    from tokenwire.routes import Route
    from tokenwire.server.app import create_app
    from tokenwire.server.connections import server_config

    logging.getLogger("tokenwire").setLevel(logging.ERROR)
    settings = Settings(auth="none", disconnect_grace_seconds=0)
    app = create_app([Route("chat", WordStreamModel())], settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = server_config(app, settings, log_level="error", access_log=False, backlog=4096)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    _serve()
