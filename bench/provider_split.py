"""The realistic path: the mock provider over HTTP, the real ``ChatOpenAI``, the gateway.

The mock provider runs in its own process; each layer is timed on the same 2,000-token
reply, adding one layer at a time, by the CPU time of the process that runs it (so the
mock's own cost is excluded), best of a few runs:

1. the ``openai`` SDK alone (``AsyncOpenAI...create(stream=True)``): the provider client;
2. ``ChatOpenAI.astream``: + LangChain;
3. tokenwire's ``stream_runnable`` into a no-op sink: + the adapter;
4. the gateway (PII guard, telemetry, event log, audit, SSE) over loopback: server CPU;
   and, for the ratio, the bare Starlette loop over the same ``ChatOpenAI``.

It also times client disconnect → provider connection closed on this path, from the mock
provider's ledger (``ended_at`` when it saw the disconnect).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import uvloop
from langchain_openai import ChatOpenAI
from openai import AsyncOpenAI
from pydantic import SecretStr

from bench.clients import Target, open_stream, stream_once, texts
from bench.servers import OPENAI_MODEL, OPENAI_SLOW_MODEL, ServerProcess
from tokenwire.langchain.adapter import stream_runnable

REPEATS = 5
DISCONNECT_TRIALS = 20
PROMPT = "Tell me about streaming"


class _NoopSink:
    def token(self, text: str) -> None:
        pass

    def reasoning(self, text: str) -> None:
        pass

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        pass

    def tool_end(self, call_id: str, name: str, output: Any, error: str | None = None) -> None:
        pass

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        pass

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        pass

    def node(self, phase: str, name: str, step: int | None) -> None:
        pass

    def usage(self, *args: Any, **kwargs: Any) -> None:
        pass


async def _best(job: Callable[[], Awaitable[int]]) -> dict[str, float]:
    """Best of REPEATS by CPU time of this process: (cpu us, wall us) per token."""
    await job()  # warm-up (connection pool, imports)
    best_cpu = best_wall = float("inf")
    tokens = 0
    for _ in range(REPEATS):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        tokens = await job()
        best_cpu = min(best_cpu, (time.process_time() - cpu0) / tokens)
        best_wall = min(best_wall, (time.perf_counter() - wall0) / tokens)
    return {"cpu_us": best_cpu * 1e6, "wall_us": best_wall * 1e6, "tokens": tokens}


async def _layers(mock_url: str) -> dict[str, dict[str, float]]:
    sdk = AsyncOpenAI(base_url=mock_url + "/v1", api_key="mock")
    model = ChatOpenAI(
        base_url=mock_url + "/v1", api_key=SecretStr("mock"), model=OPENAI_MODEL, stream_usage=True
    )

    async def raw() -> int:
        stream = await sdk.chat.completions.create(
            model=OPENAI_MODEL,
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
        return sum(
            [1 async for chunk in stream if chunk.choices and chunk.choices[0].delta.content]
        )

    async def langchain() -> int:
        return sum([1 async for chunk in model.astream(PROMPT) if chunk.content])

    async def adapter() -> int:
        sink = _NoopSink()
        output = await stream_runnable(model, PROMPT, None, sink)  # type: ignore[arg-type]
        return len(output.split())

    result = {"sdk": await _best(raw), "langchain": await _best(langchain)}
    result["adapter"] = await _best(adapter)
    await sdk.close()
    return result


async def _gateway(server: ServerProcess) -> dict[str, float]:
    if server.kind == "bare":
        target = Target("bare", server.port, "/stream-openai", b"data: ")
    else:
        target = Target.of("tokenwire", server.port, "openai")
    check = await stream_once(target, PROMPT, keep_body=True)
    tokens = len("".join(texts(target.kind, check.body)).split())
    best_cpu = best_wall = float("inf")
    for _ in range(REPEATS):
        cpu0 = server.cpu_seconds()
        stream = await stream_once(target, PROMPT)
        best_cpu = min(best_cpu, (server.cpu_seconds() - cpu0) / tokens)
        best_wall = min(best_wall, stream.duration / tokens)
    # CPU ticks are 10 ms: repeat as a batch for a steadier per-token CPU figure too
    cpu0 = server.cpu_seconds()
    for _ in range(REPEATS):
        await stream_once(target, PROMPT)
    mean_cpu = (server.cpu_seconds() - cpu0) / (REPEATS * tokens)
    return {"cpu_us": mean_cpu * 1e6, "wall_us": best_wall * 1e6, "tokens": tokens}


async def _disconnect(server: ServerProcess, mock: ServerProcess) -> dict[str, Any]:
    target = Target.of("tokenwire", server.port, "openai_slow")
    offset = time.monotonic() - time.perf_counter()
    latencies = []
    missing = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{mock.port}") as http:
        for _ in range(DISCONNECT_TRIALS):
            await http.delete("/mock/requests")
            stream = await open_stream(target, PROMPT, close_on_first=True)
            await stream.first_seen
            assert stream.closed_at is not None
            closed = stream.closed_at + offset
            ended = None
            deadline = time.monotonic() + 3.0
            while ended is None and time.monotonic() < deadline:
                records = (
                    await http.get("/mock/requests", params={"model": OPENAI_SLOW_MODEL})
                ).json()
                ended = next((r["ended_at"] for r in records if r["ended_at"] is not None), None)
                if ended is None:
                    await asyncio.sleep(0.005)
            if ended is None:
                missing += 1
            else:
                latencies.append(ended - closed)
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies) * 1e3 if latencies else None,
        "p99_ms": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1e3
        if latencies
        else None,
        "missing": missing,
    }


async def _run(mock: ServerProcess, server: ServerProcess, bare: ServerProcess) -> dict[str, Any]:
    mock_url = f"http://127.0.0.1:{mock.port}"
    result: dict[str, Any] = await _layers(mock_url)
    result["gateway"] = await _gateway(server)
    result["bare"] = await _gateway(bare)
    result["disconnect"] = await _disconnect(server, mock)
    return result


def run() -> dict[str, Any]:
    with (
        ServerProcess("mock") as mock,
        ServerProcess("tokenwire", {"BENCH_MOCK_URL": f"http://127.0.0.1:{mock.port}"}) as server,
        ServerProcess("bare", {"BENCH_MOCK_URL": f"http://127.0.0.1:{mock.port}"}) as bare,
    ):
        return uvloop.run(_run(mock, server, bare))


def report(r: dict[str, Any]) -> str:
    sdk, lc, adapter, gateway, bare = (
        r["sdk"], r["langchain"], r["adapter"], r["gateway"], r["bare"]
    )  # fmt: skip
    layers = [
        ("provider client (`openai` SDK: httpx + SSE parsing + pydantic chunks)", sdk["cpu_us"]),
        ("LangChain (`ChatOpenAI.astream` minus the SDK)", lc["cpu_us"] - sdk["cpu_us"]),
        ("tokenwire adapter (`stream_runnable`, no-op sink, minus `astream`)",
         adapter["cpu_us"] - lc["cpu_us"]),
        ("tokenwire gateway (guard, recorder, log, SSE, HTTP; server CPU minus the adapter)",
         gateway["cpu_us"] - adapter["cpu_us"]),
    ]  # fmt: skip
    total = gateway["cpu_us"]
    rows = "\n".join(f"| {what} | {us:.1f} us | {us / total:.0%} |" for what, us in layers)
    walls = (
        f"`openai` SDK {sdk['wall_us']:.1f} us, `ChatOpenAI.astream` {lc['wall_us']:.1f} us, "
        f"adapter {adapter['wall_us']:.1f} us, gateway at the client {gateway['wall_us']:.1f} us"
    )
    d = r["disconnect"]
    gone = "n/a" if d["p50_ms"] is None else f"p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms"
    return f"""## The realistic path: mock provider → `ChatOpenAI` → tokenwire

The mock provider (`tokenwire.mock`, model `{OPENAI_MODEL}`) in its own process; one
{gateway["tokens"]:,}-token reply per stream. Each layer is the CPU time per token of the
process running it (the mock's own time excluded): layers 1-3 in the benchmark process
(best of {REPEATS}), layer 4 the gateway process (mean over {REPEATS} streams), each row
the difference to the layer below.

| layer | CPU per token | share |
|---|---|---|
{rows}
| **total in the gateway process** | **{total:.1f} us** | 100% |

Wall time per token (stream time ÷ tokens, paced partly by the mock): {walls}.

The bare Starlette loop over the same `ChatOpenAI` (route `/stream-openai`, one SSE event
per token): {bare["cpu_us"]:.1f} us of server CPU and {bare["wall_us"]:.1f} us wall per token;
**tokenwire / bare on this path: {gateway["cpu_us"] / bare["cpu_us"]:.2f}x CPU,
{gateway["wall_us"] / bare["wall_us"]:.2f}x wall.**

Client disconnect → the provider's connection closed (the mock ledger's `ended_at`,
route `openai_slow` = `{OPENAI_SLOW_MODEL}`, grace 0, {DISCONNECT_TRIALS} trials): {gone};
never closed within 3 s: {d["missing"]}.
"""
