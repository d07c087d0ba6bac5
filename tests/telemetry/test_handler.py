"""The callback handler on its own, in a plain LangChain app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import openai
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as HttpRoute

from tokenwire.demo.routes import demo_model
from tokenwire.mock import prompt_tokens, reply_tokens
from tokenwire.server.background import BackgroundServer
from tokenwire.telemetry import StreamTelemetryHandler, StreamTiming
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock


@pytest.fixture
async def http_client() -> Any:
    client = openai.DefaultAsyncHttpxClient()
    yield client
    await client.aclose()


def scripted_clock(*times: float) -> Clock:
    """A clock that returns ``times`` in order: one read too many fails the test."""
    reads = iter(times)
    return lambda: next(reads)


async def test_handler_measures_a_chain_stream(mock_url: str, http_client: Any) -> None:
    finished: list[StreamTiming] = []
    # Reads: the start, one per token (the first 100 ms in, then every 10 ms), the end.
    tokens_at = [0.100 + 0.010 * i for i in range(15)]
    handler = StreamTelemetryHandler(
        prices=PriceTable({"mock": {"input": 1.0, "output": 2.0}}),
        on_finish=finished.append,
        clock=scripted_clock(0.0, *tokens_at, 0.3),
    )
    model = demo_model(f"{mock_url}/v1", "ttft=100,itl=10,tokens=15", http_client)
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model | StrOutputParser()
    text = "".join([c async for c in chain.astream({"q": "hi"}, {"callbacks": [handler]})])

    assert len(finished) == 1 and list(handler.finished) == finished
    timing = finished[0]
    assert timing.tokens == 15 == len(text.split())
    assert timing.ttft_s == pytest.approx(0.100) and timing.ended_at == 0.3
    itl = timing.itl(stall_threshold=1.0)
    assert itl.p50 == pytest.approx(0.010) and itl.max == pytest.approx(0.010)
    assert len(timing.gaps) == 14 and itl.stalls == 0
    assert timing.itl(stall_threshold=0.005).stalls == 14
    messages = [{"role": "user", "content": "hi"}]
    assert (timing.input_tokens, timing.output_tokens) == (prompt_tokens(messages), 15)
    assert timing.input_tokens is not None
    assert timing.cost_usd == pytest.approx((timing.input_tokens + 2 * 15) / 1e6)
    assert timing.model == "mock@ttft=100,itl=10,tokens=15"
    assert len(reply_tokens(messages)) > 0


async def test_per_call_state_never_mixes_concurrent_streams(
    mock_url: str, http_client: Any
) -> None:
    import asyncio

    handler = StreamTelemetryHandler()
    fast = demo_model(f"{mock_url}/v1", "itl=1,tokens=5", http_client)
    slow = demo_model(f"{mock_url}/v1", "itl=15,tokens=8", http_client)

    async def drain(model: Any) -> None:
        async for _ in model.astream("x", {"callbacks": [handler]}):
            pass

    await asyncio.gather(drain(fast), drain(slow), drain(fast))
    tokens = sorted(t.tokens for t in handler.finished)
    assert tokens == [5, 5, 8]


_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from langchain_core.tracers.langchain import wait_for_all_tracers
    from tokenwire.demo.routes import demo_model
    from tokenwire.telemetry import StreamTelemetryHandler

    async def main():
        handler = StreamTelemetryHandler()
        model = demo_model(sys.argv[1] + "/v1", "itl=2,tokens=6")
        async for _ in model.astream("coexist", {"callbacks": [handler]}):
            pass
        wait_for_all_tracers()
        timing = handler.finished[0]
        print(json.dumps({"tokens": timing.tokens, "output_tokens": timing.output_tokens}))

    asyncio.run(main())
    """
)


def test_langsmith_tracer_and_our_handler_coexist_on_one_run(mock_url: str) -> None:
    received: list[tuple[str, bytes]] = []

    async def langsmith(request: Request) -> JSONResponse:
        received.append((request.url.path, await request.body()))
        return JSONResponse({})

    fake_langsmith = Starlette(
        routes=[HttpRoute("/{path:path}", langsmith, methods=["GET", "POST", "PATCH"])]
    )
    with BackgroundServer(fake_langsmith) as server:
        env = {
            **os.environ,
            "LANGSMITH_TRACING": "true",
            "LANGSMITH_ENDPOINT": server.url,
            "LANGSMITH_API_KEY": "lsv2-test-key",
            "LANGSMITH_PROJECT": "tokenwire-test",
        }
        result = subprocess.run(
            [sys.executable, "-c", _SCRIPT, mock_url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout.strip().splitlines()[-1])
    assert ours == {"tokens": 6, "output_tokens": 6}
    posted = b"".join(body for path, body in received if "runs" in path)
    assert b"ChatOpenAI" in posted, [path for path, _ in received]
