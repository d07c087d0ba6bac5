"""The fault matrix: every mock fault, by mid-stream policy, with and without a fallback.

Each cell checks what a client and an operator see: exactly one ``run.end`` (last), the
status and error code, the partial output in ``GET /v1/runs/{id}``, whether the fallback
was used (in ``run.end`` and in the per-run telemetry record) — and that nothing is left
behind: no run task or extra task on the gateway's loop, no response still open at the
mock provider.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.reliability.conftest import Live
from tokenwire.demo.routes import demo_model
from tokenwire.reliability import Fallback, RetryPolicy
from tokenwire.reliability.continuation import CONTINUE_INSTRUCTION
from tokenwire.routes import Route
from tokenwire.testing import SSE, collect, text_of

PROMPT = "Tell me about reliable streaming"
POLICIES = ["error", "restart", "continue"]


@dataclass(frozen=True)
class Fault:
    """A way the primary fails; ``tokens_before`` is how many tokens clients saw first."""

    name: str
    profile: str
    code: str
    tokens_before: int


FAULTS = [
    Fault("429-then-success", "fault=429x1", "", 0),
    Fault("500-before-stream", "fault=500", "upstream_error", 0),
    Fault("drop-after-5", "fault=drop:5", "upstream_error", 5),
    Fault("stall-mid-stream", "fault=stall:5:10", "stall_timeout", 5),
    Fault("ttft-above-timeout", "ttft=3000", "upstream_timeout", 0),
    Fault("malformed-chunk", "fault=malformed:3", "upstream_error", 3),
    Fault("runnable-raises", "", "internal", 2),
]


async def _raises_after_two_tokens(_: Any) -> AsyncIterator[str]:
    yield "partial "
    yield "answer "
    raise ValueError("the chain broke")


def _primary(mock_url: str, fault: Fault) -> Any:
    if fault.name == "runnable-raises":
        return RunnableLambda(_raises_after_two_tokens)
    return demo_model(f"{mock_url}/v1", f"tokens=20,itl=5,{fault.profile}")


def _route(mock_url: str, fault: Fault, policy: str, with_fallback: bool) -> Route:
    fallbacks = [Fallback(demo_model(f"{mock_url}/v1", "tokens=8"), name="backup")]
    return Route(
        "chat",
        _primary(mock_url, fault),
        # Far above the healthy stream's gaps (5 ms) and far below the faults' (3 s, 10 s),
        # so a slow moment on a shared CI machine is not taken for a fault.
        first_token_timeout=2.0,
        stall_timeout=0.6,
        retry=RetryPolicy(max_retries=1, base_delay=0.05),
        fallbacks=fallbacks if with_fallback else (),
        mid_stream=policy,  # type: ignore[arg-type]
    )


def _tokens(events: list[SSE]) -> list[str]:
    return [e.data["text"] for e in events if e.event == "token"]


@pytest.mark.parametrize("with_fallback", [False, True], ids=["alone", "fallback"])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_matrix(
    live: Callable[..., Live], mock_url: str, fault: Fault, policy: str, with_fallback: bool
) -> None:
    gateway = live([_route(mock_url, fault, policy, with_fallback)])
    events = collect(gateway.client, "chat", {"input": PROMPT})

    assert events[0].event == "run.start"
    assert [e.event for e in events].count("run.end") == 1 and events[-1].event == "run.end"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    end = events[-1].data
    run_id = events[0].data["run_id"]
    snapshot = gateway.client.get(f"/v1/runs/{run_id}").json()
    tokens = _tokens(events)
    mid_stream = fault.tokens_before > 0
    restarted = [e for e in events if e.event == "run.restart"]

    if not fault.code:  # 429 once, then the retry succeeds on the primary
        assert end["status"] == "completed" and end["fallback_used"] is None, end
        assert len(tokens) == 20 and end["output"] == "".join(tokens)
    elif not with_fallback or (mid_stream and policy == "error"):
        assert end["status"] == "failed", end
        assert end["error"]["code"] == fault.code
        assert events[-3].event == "error" and events[-3].data == end["error"]
        assert len(tokens) == fault.tokens_before
        assert end["fallback_used"] is None and not restarted
    elif not mid_stream:
        assert end["status"] == "completed" and end["fallback_used"] == "backup", end
        assert len(tokens) == 8 and end["output"] == "".join(tokens)
    elif policy == "restart":
        assert end["status"] == "completed" and end["fallback_used"] == "backup", end
        assert [e.data for e in restarted] == [{"reason": fault.code, "attempt": 2}]
        after = events[events.index(restarted[0]) + 1 :]
        assert len(tokens) == fault.tokens_before + 8
        assert end["output"] == text_of(after) and len(_tokens(after)) == 8
    else:  # continue: the fallback carries on after the partial answer
        assert end["status"] == "completed" and end["fallback_used"] == "backup", end
        partial = "".join(tokens[: fault.tokens_before])
        assert end["output"] == "".join(tokens) and end["output"].startswith(partial)
        continuation = "".join(tokens[fault.tokens_before :])
        assert continuation.startswith("You said: " + CONTINUE_INSTRUCTION.split()[0])
        assert not restarted

    # What GET /v1/runs/{id} says is what the stream ended with, partial output included.
    assert snapshot["status"] == end["status"]
    assert snapshot["output"] == end["output"]
    assert snapshot["error"] == end.get("error")
    record = gateway.telemetry_record(run_id)
    assert record.status == end["status"] and record.fallback_used == end["fallback_used"]
    assert record.error_code == (end["error"]["code"] if "error" in end else None)
    gateway.wait_for_no_leftovers(mock_url)


def test_a_drop_is_an_upstream_error_with_the_partial_text_kept(
    live: Callable[..., Live], mock_url: str
) -> None:
    model = demo_model(f"{mock_url}/v1", "tokens=20,itl=5,fault=drop:5")
    gateway = live([Route("chat", model)])
    events = collect(gateway.client, "chat", {"input": PROMPT})
    end = events[-1].data
    assert end["error"] == {
        "code": "upstream_error",
        "message": "the connection to the model provider failed",
        "retryable": True,
    }
    expected = demo_model(f"{mock_url}/v1", "tokens=20").invoke(PROMPT).content
    assert isinstance(expected, str)
    assert end["output"] == "".join(re.findall(r"\S+\s*", expected)[:5])
    records = httpx.get(f"{mock_url}/mock/requests").json()
    assert [r["outcome"] for r in records if "drop" in r["model"]] == ["dropped"]
