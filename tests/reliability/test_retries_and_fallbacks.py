"""Retries, fallbacks, usage across attempts, the total timeout and the circuit breaker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool

from tests.reliability.conftest import Live
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.reliability import BreakerPolicy, Fallback, RetryPolicy
from tokenwire.routes import Route
from tokenwire.testing import collect, text_of

PROMPT = "Tell me about reliable streaming"


def _model(mock_url: str, profile: str) -> Any:
    return demo_model(f"{mock_url}/v1", profile)


def _requests(mock_url: str, needle: str = "") -> list[dict[str, Any]]:
    records = httpx.get(f"{mock_url}/mock/requests").json()
    return [r for r in records if needle in r["model"]]


def test_a_429_is_retried_no_sooner_than_retry_after(
    live: Callable[..., Live], mock_url: str
) -> None:
    # The mock answers a 429 with Retry-After: 1, far above the 10 ms backoff.
    route = Route(
        "chat",
        _model(mock_url, "tokens=5,fault=429x1"),
        retry=RetryPolicy(max_retries=3, base_delay=0.01),
    )
    gateway = live([route])
    events = collect(gateway.client, "chat", {"input": PROMPT})
    assert events[-1].data["status"] == "completed"
    first, second = _requests(mock_url)
    assert (first["status_code"], second["outcome"]) == (429, "completed")
    assert second["started_at"] - first["ended_at"] >= 0.95
    assert gateway.gateway.reliability.stats.retries == 1


def test_retries_stop_after_max_retries(live: Callable[..., Live], mock_url: str) -> None:
    route = Route(
        "chat", _model(mock_url, "fault=503"), retry=RetryPolicy(max_retries=2, base_delay=0.01)
    )
    gateway = live([route])
    end = collect(gateway.client, "chat", {"input": PROMPT})[-1].data
    assert end["status"] == "failed" and end["error"]["code"] == "upstream_error"
    assert end["error"]["message"] == "the model provider returned 503"
    assert len(_requests(mock_url)) == 3


def test_retries_stop_when_retry_after_exceeds_the_budget(
    live: Callable[..., Live], mock_url: str
) -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.01, budget_seconds=0.5)
    fallback = Fallback(_model(mock_url, "tokens=3"), name="backup")
    route = Route("chat", _model(mock_url, "fault=429"), retry=policy, fallbacks=[fallback])
    gateway = live([route])
    end = collect(gateway.client, "chat", {"input": PROMPT})[-1].data
    assert end["status"] == "completed" and end["fallback_used"] == "backup"
    assert len(_requests(mock_url, "fault=429")) == 1  # waiting 1 s would break the budget


def test_a_non_streaming_fallback_is_delivered_as_one_token_with_its_usage(
    live: Callable[..., Live], mock_url: str
) -> None:
    fallback = Fallback(_model(mock_url, "tokens=6"), name="batch", streaming=False)
    gateway = live([Route("chat", _model(mock_url, "fault=500"), fallbacks=[fallback])])
    events = collect(gateway.client, "chat", {"input": PROMPT})
    tokens = [e for e in events if e.event == "token"]
    end = events[-1].data
    assert len(tokens) == 1 and tokens[0].data["text"] == end["output"]
    assert len(end["output"].split()) == 6
    assert end["fallback_used"] == "batch"
    assert end["usage"]["output_tokens"] == 6 and end["usage"]["estimated"] is False
    assert [r["stream"] for r in _requests(mock_url, "tokens=6")] == [False]


async def _explode(_: Any) -> str:
    raise RuntimeError("post-processing failed")


def test_usage_is_summed_over_attempts(live: Callable[..., Live], mock_url: str) -> None:
    # The primary streams all 7 tokens (and reports usage), then the chain fails: restart.
    primary = _model(mock_url, "tokens=7") | RunnableLambda(_explode)
    fallback = Fallback(_model(mock_url, "tokens=4"), name="backup")
    route = Route("chat", primary, fallbacks=[fallback], mid_stream="restart")
    gateway = live([route])
    events = collect(gateway.client, "chat", {"input": PROMPT})
    end = events[-1].data
    assert end["status"] == "completed" and [e.event for e in events].count("run.restart") == 1
    assert end["usage"]["output_tokens"] == 7 + 4 and end["usage"]["estimated"] is False
    prompt_tokens = end["usage"]["input_tokens"]
    assert prompt_tokens == 2 * (len(PROMPT.split()) + 4)


def test_unreported_usage_of_a_dropped_attempt_is_estimated(
    live: Callable[..., Live], mock_url: str
) -> None:
    fallback = Fallback(_model(mock_url, "tokens=4"), name="backup")
    route = Route(
        "chat",
        _model(mock_url, "tokens=20,fault=drop:5"),
        fallbacks=[fallback],
        mid_stream="restart",
    )
    events = collect(live([route]).client, "chat", {"input": PROMPT})
    usage = events[-1].data["usage"]
    discarded = text_of(events[: [e.event for e in events].index("run.restart")])
    assert usage["estimated"] is True
    assert usage["output_tokens"] == 4 + (len(discarded) + 3) // 4


def test_total_timeout_ends_the_run_however_far_it_got(
    live: Callable[..., Live], mock_url: str
) -> None:
    fallback = Fallback(_model(mock_url, "tokens=3"), name="backup")
    route = Route(
        "chat",
        # 10 s of tokens, 1.5 s allowed: room for the first ones on a loaded machine
        _model(mock_url, "tokens=200,itl=50"),
        total_timeout=1.5,
        fallbacks=[fallback],
        mid_stream="restart",
    )
    gateway = live([route])
    events = collect(gateway.client, "chat", {"input": PROMPT})
    end = events[-1].data
    assert end["status"] == "failed" and end["error"]["code"] == "upstream_timeout", end
    assert end["error"]["message"] == "the run did not finish within 1.5 s"
    assert 0 < len(end["output"].split()) < 200 and end["output"] == text_of(events)
    assert end["fallback_used"] is None and _requests(mock_url, "tokens=3") == []
    assert gateway.gateway.reliability.stats.total_timeouts == 1
    gateway.wait_for_no_leftovers(mock_url)


def test_the_circuit_breaker_skips_a_failing_upstream_for_its_cool_down(
    live: Callable[..., Live], mock_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    fallback = Fallback(_model(mock_url, "tokens=3"), name="backup")
    route = Route(
        "chat",
        _model(mock_url, "fault=500"),
        fallbacks=[fallback],
        circuit_breaker=BreakerPolicy(failure_threshold=2, cooldown_seconds=60),
    )
    gateway = live([route])
    for _ in range(4):
        end = collect(gateway.client, "chat", {"input": PROMPT})[-1].data
        assert end["status"] == "completed" and end["fallback_used"] == "backup"
    assert len(_requests(mock_url, "fault=500")) == 2  # runs 3 and 4 went straight on
    breaker = gateway.gateway.reliability.breakers.snapshot()[0]
    assert breaker == {
        "upstream": "chat",
        "state": "open",
        "consecutive_failures": 2,
        "times_opened": 1,
        "skipped": 2,
    }
    assert gateway.gateway.reliability.stats.breaker_skips == 2
    assert "circuit opened for upstream 'chat' after 2 consecutive failure(s)" in caplog.text


def test_an_open_circuit_without_a_fallback_fails_fast(
    live: Callable[..., Live], mock_url: str
) -> None:
    route = Route(
        "chat",
        _model(mock_url, "fault=500"),
        circuit_breaker=BreakerPolicy(failure_threshold=1, cooldown_seconds=60),
    )
    gateway = live([route])
    collect(gateway.client, "chat", {"input": PROMPT})
    end = collect(gateway.client, "chat", {"input": PROMPT})[-1].data
    assert end["error"] == {
        "code": "upstream_error",
        "message": "upstream 'chat' is unavailable",
        "retryable": True,
    }
    assert len(_requests(mock_url)) == 1


@tool
async def lookup(query: str) -> str:
    """Look something up."""
    return f"found {query}"


async def _agentish(_: Any, config: RunnableConfig) -> AsyncIterator[str]:
    await lookup.ainvoke({"query": "orders"}, config)
    yield "Your order "
    raise ConnectionError("lost the model mid-answer")


def test_continue_is_refused_after_tools_ran(live: Callable[..., Live], mock_url: str) -> None:
    fallback = Fallback(_model(mock_url, "tokens=3"), name="backup")
    route = Route(
        "agent",
        RunnableLambda(_agentish),
        mode="events",
        fallbacks=[fallback],
        mid_stream="continue",
    )
    gateway = live([route])
    events = collect(gateway.client, "agent", {"input": "where is my order?"})
    assert [e.event for e in events][1:3] == ["tool.start", "tool.end"]
    end = events[-1].data
    assert end["status"] == "failed" and end["output"] == "Your order "
    assert end["fallback_used"] is None and _requests(mock_url) == []
    assert gateway.gateway.reliability.stats.continuations_refused == 1


async def _two_tokens_then_fail(_: Any) -> AsyncIterator[str]:
    yield "half "
    yield "an answer"
    raise ConnectionError("gone")


def test_continue_needs_a_chat_model_fallback(live: Callable[..., Live]) -> None:
    chain_fallback = Fallback(RunnableLambda(lambda x: "a whole other answer"), name="chain")
    route = Route(
        "chat",
        RunnableLambda(_two_tokens_then_fail),
        fallbacks=[chain_fallback],
        mid_stream="continue",
    )
    end = collect(live([route]).client, "chat", {"input": "x"})[-1].data
    assert end["status"] == "failed" and end["output"] == "half an answer"
    assert end["error"]["code"] == "internal"


def test_retries_never_repeat_what_clients_saw(live: Callable[..., Live], mock_url: str) -> None:
    route = Route(
        "chat",
        _model(mock_url, "tokens=20,fault=drop:5"),
        retry=RetryPolicy(max_retries=3, base_delay=0.01),
    )
    end = collect(live([route]).client, "chat", {"input": PROMPT})[-1].data
    assert end["status"] == "failed" and len(end["output"].split()) == 5
    assert len(_requests(mock_url)) == 1


class _Upstream:
    """An upstream that fails its first call, then holds every call until ``answer`` is set;
    ``calls`` counts what reached it."""

    def __init__(self) -> None:
        self.calls = 0
        self.answer = asyncio.Event()

    async def stream(self, _: Any) -> AsyncIterator[str]:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("the provider is down")
        await self.answer.wait()
        yield "back "


async def test_a_half_open_circuit_sends_one_probe_and_a_cancelled_probe_frees_it() -> None:
    upstream = _Upstream()
    policy = BreakerPolicy(failure_threshold=1, cooldown_seconds=0)  # half-open at once
    gateway = Gateway([Route("chat", RunnableLambda(upstream.stream), circuit_breaker=policy)])
    first, _ = await gateway.start_run("chat", PROMPT)
    assert first.task is not None
    await first.task
    assert gateway.reliability.breakers.snapshot()[0]["state"] == "open"

    runs = [(await gateway.start_run("chat", PROMPT))[0] for _ in range(5)]  # all at once
    await _until(lambda: sum(run.done for run in runs) == 4 or upstream.calls > 2)
    assert upstream.calls == 2  # one probe; the other four were refused as if open
    (probe,) = [run for run in runs if not run.done]
    skipped = [run for run in runs if run.done]
    assert {run.summary["error"]["message"] for run in skipped} == {
        "upstream 'chat' is unavailable"
    }

    probe.cancel("client left")  # no outcome: the next attempt probes
    assert probe.task is not None
    await asyncio.gather(probe.task, return_exceptions=True)
    second, _ = await gateway.start_run("chat", PROMPT)
    await _until(lambda: upstream.calls == 3)
    upstream.answer.set()
    assert second.task is not None
    await second.task
    assert second.summary["status"] == "completed" and second.summary["output"] == "back "
    assert gateway.reliability.breakers.snapshot()[0]["state"] == "closed"
    await gateway.aclose()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")
