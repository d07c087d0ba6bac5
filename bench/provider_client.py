"""The provider client: stock ``langchain_openai.ChatOpenAI`` against the lean
``tokenwire.models.ChatOpenAI``, ``astream`` from the mock provider.

The mock runs in its own process (its CPU is not counted); both models stream the same
2,000-token reply with ``stream_usage=True``, alternating stream by stream in this process,
and each is timed by this process's CPU time per content token (best of ``ROUNDS``, the
least-disturbed figure on a shared machine) and wall time per token. Before timing, the two
streams are checked to carry the same text. In ``make bench`` as ``provider_client``
(``python -m bench --only provider_client``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
from langchain_openai import ChatOpenAI as StockChatOpenAI
from pydantic import SecretStr

from bench.servers import OPENAI_MODEL, ServerProcess
from tokenwire.models import ChatOpenAI as LeanChatOpenAI

ROUNDS = 7
PROMPT = "Tell me about streaming"
MODELS = {"stock": StockChatOpenAI, "lean": LeanChatOpenAI}


async def _stream(model: Any) -> tuple[int, str]:
    tokens, parts = 0, []
    async for chunk in model.astream(PROMPT):
        if chunk.content:
            tokens += 1
            parts.append(chunk.content)
    return tokens, "".join(parts)


async def _measure(mock_url: str) -> dict[str, Any]:
    client = openai.DefaultAsyncHttpxClient()
    settings: dict[str, Any] = {
        "base_url": mock_url + "/v1",
        "api_key": SecretStr("mock"),
        "model": OPENAI_MODEL,
        "stream_usage": True,
        "http_async_client": client,
    }
    models = {name: cls(**settings) for name, cls in MODELS.items()}
    texts = {name: (await _stream(model))[1] for name, model in models.items()}  # warm-up
    assert texts["stock"] == texts["lean"], "the lean stream differs from the stock one"
    best = {name: {"cpu_us": float("inf"), "wall_us": float("inf")} for name in models}
    tokens = 0
    for _ in range(ROUNDS):
        for name, model in models.items():  # interleaved: both see the same machine load
            cpu0, wall0 = time.process_time(), time.perf_counter()
            tokens, _text = await _stream(model)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            best[name]["cpu_us"] = min(best[name]["cpu_us"], cpu / tokens * 1e6)
            best[name]["wall_us"] = min(best[name]["wall_us"], wall / tokens * 1e6)
    await client.aclose()
    return {**best, "tokens": tokens, "ratio": best["lean"]["cpu_us"] / best["stock"]["cpu_us"]}


def run() -> dict[str, Any]:
    with ServerProcess("mock") as mock:
        return asyncio.run(_measure(f"http://127.0.0.1:{mock.port}"))


def report(results: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {label} | {results[name]['cpu_us']:.1f} us | {results[name]['wall_us']:.1f} us |"
        for name, label in (
            ("stock", "`langchain_openai.ChatOpenAI` (SDK pydantic chunks, `model_dump`)"),
            ("lean", "`tokenwire.models.ChatOpenAI` (orjson over the SDK's response)"),
        )
    )
    return f"""## The provider client: stock vs lean `ChatOpenAI`

`astream` of one {results["tokens"]:,}-token reply from the mock provider (own process,
not counted), `stream_usage=True`, the two models alternating, best of {ROUNDS} each:
CPU time of the streaming process per content token.

| client | CPU per token | wall per token |
|---|---|---|
{rows}

**lean / stock: {results["ratio"]:.2f}x CPU per token.**
"""
