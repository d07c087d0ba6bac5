"""The policy objects on their own: backoff, Retry-After, the watchdog, the breaker."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from time import perf_counter

import httpx
import httpx2 as provider_http  # the OpenAI SDK's own HTTP client (a fork of httpx)
import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from tokenwire.reliability.breaker import BreakerPolicy, CircuitBreaker, Permit
from tokenwire.reliability.continuation import CONTINUE_INSTRUCTION, continuation_input
from tokenwire.reliability.retry import RetryPolicy, is_transient, retry_after
from tokenwire.reliability.timeouts import DeadlineExceeded, Watchdog
from tokenwire.runs.failures import describe_failure


def _status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    request = provider_http.Request("POST", "http://provider/v1/chat/completions")
    response = provider_http.Response(status, headers=headers or {}, request=request)
    return openai.APIStatusError("boom", response=response, body=None)


def test_backoff_grows_is_capped_jittered_and_never_sooner_than_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, base_delay=0.1, max_delay=0.5)
    assert [policy.backoff(n, rng=lambda: 1.0) for n in range(4)] == [0.1, 0.2, 0.4, 0.5]
    assert [policy.backoff(n, rng=lambda: 0.0) for n in range(4)] == [0.05, 0.1, 0.2, 0.25]
    assert policy.backoff(0, retry_after=2.0) == 2.0


def test_retries_are_bounded_in_count_and_time() -> None:
    error = _status_error(503)
    policy = RetryPolicy(max_retries=2, base_delay=0.1, budget_seconds=1.0)
    assert policy.next_delay(0, error, elapsed=0.0) is not None
    assert policy.next_delay(2, error, elapsed=0.0) is None  # count
    assert policy.next_delay(0, error, elapsed=0.99) is None  # time budget
    slow_down = _status_error(429, {"retry-after": "5"})
    assert policy.next_delay(0, slow_down, elapsed=0.0) is None  # Retry-After past the budget
    assert RetryPolicy().next_delay(0, error, 0.0) is None  # the default retries nothing


def test_what_is_worth_retrying() -> None:
    assert is_transient(_status_error(429)) and is_transient(_status_error(502))
    assert not is_transient(_status_error(400)) and not is_transient(_status_error(401))
    request = provider_http.Request("POST", "http://provider")
    assert is_transient(openai.APIConnectionError(request=request))
    assert is_transient(httpx.ConnectError("refused"))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(DeadlineExceeded("first_token", 1.0))


def test_a_dropped_stream_is_a_transport_failure_whichever_client_raised_it() -> None:
    """A provider dropping the connection mid-body reaches us as the HTTP client's own error,
    unwrapped by the SDK; httpx2's tree is unrelated to httpx's, and was once "internal"."""
    for client in (httpx, provider_http):
        dropped = client.RemoteProtocolError("peer closed connection")
        assert is_transient(dropped) and describe_failure(dropped).retryable
        assert describe_failure(dropped).code.value == "upstream_error"
        assert describe_failure(client.ReadTimeout("slow")).code.value == "upstream_timeout"


def test_retry_after_in_seconds_milliseconds_or_as_a_date() -> None:
    assert retry_after(_status_error(429, {"retry-after": "3"})) == 3.0
    assert retry_after(_status_error(429, {"retry-after-ms": "250"})) == 0.25
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    delay = retry_after(_status_error(429, {"retry-after": date}))
    assert delay is not None and 25 < delay <= 30
    assert retry_after(_status_error(429, {"retry-after": "soon"})) is None
    assert retry_after(ValueError()) is None


def test_failures_map_to_typed_codes() -> None:
    import json

    request = provider_http.Request("POST", "http://provider")
    cases: dict[str, list[BaseException]] = {
        "upstream_error": [
            _status_error(500),
            openai.APIConnectionError(request=request),
            json.JSONDecodeError("Expecting value", "{not json", 1),
        ],
        "upstream_timeout": [
            DeadlineExceeded("first_token", 0.5),
            DeadlineExceeded("total", 9),
            openai.APITimeoutError(request=request),
        ],
        "stall_timeout": [DeadlineExceeded("stall", 0.3)],
        "internal": [ValueError("x")],
    }
    for code, errors in cases.items():
        for error in errors:
            assert describe_failure(error).code.value == code, error
    assert describe_failure(DeadlineExceeded("stall", 0.3)).message == (
        "the model stopped streaming for 0.3 s"
    )


class _Clock:
    def __init__(self) -> None:
        self.last_token_at: float | None = None

    def tick(self) -> None:
        self.last_token_at = perf_counter()


async def test_watchdog_first_token_then_stall() -> None:
    clock = _Clock()
    with pytest.raises(DeadlineExceeded) as first:
        async with Watchdog(clock, first_token=0.05, stall=1.0):
            await asyncio.sleep(5)
    assert first.value.kind == "first_token"

    with pytest.raises(DeadlineExceeded) as stall:
        async with Watchdog(clock, first_token=0.1, stall=0.1):
            for _ in range(6):  # tokens every 40 ms keep it alive past both limits
                await asyncio.sleep(0.04)
                clock.tick()
            await asyncio.sleep(5)
    assert stall.value.kind == "stall"


async def test_watchdog_lets_an_outside_cancel_through_and_is_quiet_when_done_in_time() -> None:
    async with Watchdog(_Clock(), first_token=5, total=5) as dog:
        await asyncio.sleep(0.01)
    assert dog.expired is None

    async def guarded() -> None:
        async with Watchdog(_Clock(), first_token=5):
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nested_watchdogs_each_claim_only_their_own_deadline() -> None:
    clock = _Clock()
    with pytest.raises(DeadlineExceeded) as outer:
        async with Watchdog(total=0.05), Watchdog(clock, first_token=5):
            await asyncio.sleep(5)
    assert outer.value.kind == "total"


def test_breaker_opens_after_n_failures_cools_down_and_closes_on_success() -> None:
    now = [0.0]
    policy = BreakerPolicy(failure_threshold=2, cooldown_seconds=10)
    breaker = CircuitBreaker("p", policy, lambda: now[0])
    _permit(breaker).failed()
    assert state(breaker) == "closed"
    _permit(breaker).failed()
    assert state(breaker) == "open" and breaker.allow() is None and breaker.skipped == 1
    now[0] = 10.0
    probe = _permit(breaker)
    assert state(breaker) == "half_open"
    probe.failed()  # the probe failing re-opens it
    assert state(breaker) == "open" and breaker.times_opened == 2
    now[0] = 20.0
    _permit(breaker).succeeded()
    assert state(breaker) == "closed" and breaker.consecutive_failures == 0


def state(breaker: CircuitBreaker) -> str:
    """The breaker's state, read anew (mypy would narrow ``breaker.state`` between reads)."""
    return breaker.state


def _permit(breaker: CircuitBreaker) -> Permit:
    permit = breaker.allow()
    assert permit is not None, breaker.snapshot()
    return permit


async def _call(
    breaker: CircuitBreaker, asked: asyncio.Barrier, works: asyncio.Future[bool]
) -> str:
    """One attempt as ``Attempts`` makes it: allowed or skipped, then its call's outcome."""
    permit = breaker.allow()
    await asked.wait()  # every attempt of a burst asks before any outcome is known
    if permit is None:
        return "skipped"
    try:
        if await asyncio.shield(works):
            permit.succeeded()
            return "succeeded"
        permit.failed()
        return "failed"
    finally:
        permit.abandoned()


async def _burst(
    breaker: CircuitBreaker, works: asyncio.Future[bool], n: int = 8
) -> list[asyncio.Task[str]]:
    """``n`` concurrent attempts, returned once each has asked the breaker."""
    asked = asyncio.Barrier(n + 1)
    tasks = [asyncio.create_task(_call(breaker, asked, works)) for _ in range(n)]
    await asked.wait()
    return tasks


async def test_a_half_open_breaker_lets_one_probe_through_and_others_skip() -> None:
    now = [0.0]
    policy = BreakerPolicy(failure_threshold=1, cooldown_seconds=10)
    breaker = CircuitBreaker("p", policy, lambda: now[0])
    _permit(breaker).failed()
    now[0] = 10.0  # cooled down: half-open at the next attempt
    loop = asyncio.get_running_loop()
    pending: asyncio.Future[bool] = loop.create_future()

    first = await _burst(breaker, pending)
    await asyncio.sleep(0)  # the skipped attempts return
    (probe,) = [t for t in first if not t.done()]
    assert [t.result() for t in first if t.done()] == ["skipped"] * 7
    assert state(breaker) == "half_open"

    probe.cancel()  # the probe's client left: no outcome, so the next attempt probes
    await asyncio.gather(probe, return_exceptions=True)
    failing: asyncio.Future[bool] = loop.create_future()
    failing.set_result(False)
    second = await asyncio.gather(*await _burst(breaker, failing))
    assert sorted(second) == ["failed"] + ["skipped"] * 7
    assert state(breaker) == "open" and breaker.times_opened == 2

    now[0] = 20.0
    working: asyncio.Future[bool] = loop.create_future()
    working.set_result(True)
    third = await asyncio.gather(*await _burst(breaker, working))
    assert sorted(third) == ["skipped"] * 7 + ["succeeded"]
    assert state(breaker) == "closed"
    fourth = await asyncio.gather(*await _burst(breaker, working))
    assert fourth == ["succeeded"] * 8  # closed: every attempt goes through
    assert breaker.skipped == 21
    pending.cancel()


def test_an_attempt_older_than_the_cool_down_does_not_decide_for_the_probe() -> None:
    now = [0.0]
    breaker = CircuitBreaker(
        "p", BreakerPolicy(failure_threshold=1, cooldown_seconds=10), lambda: now[0]
    )
    slow = _permit(breaker)  # let through while closed; still running when the breaker opens
    _permit(breaker).failed()
    now[0] = 10.0
    probe = _permit(breaker)
    slow.failed()
    slow.abandoned()
    assert state(breaker) == "half_open" and breaker.allow() is None  # the probe is still out
    probe.succeeded()
    assert state(breaker) == "closed"


def test_continuation_carries_the_conversation_and_the_partial_answer() -> None:
    messages = continuation_input([("system", "be brief"), ("user", "hi")], "Hello, I am")
    assert messages is not None
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    assert messages[2].content == "Hello, I am"
    assert messages[3].content == CONTINUE_INSTRUCTION
    assert continuation_input("hi", "x") is not None
    assert continuation_input({"messages": [{"role": "user", "content": "hi"}]}, "x")
    assert continuation_input({"question": "hi"}, "x") is None
    assert continuation_input(42, "x") is None


async def _swallow_one_cancel() -> None:
    # What asyncio.wait_for on 3.11 sometimes does when a result races the cancel.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(5)
    await asyncio.sleep(5)


async def test_watchdog_insists_when_a_library_swallows_its_cancel() -> None:
    with pytest.raises(DeadlineExceeded) as stall:
        async with Watchdog(_Clock(), first_token=0.05):
            await _swallow_one_cancel()
    assert stall.value.kind == "first_token"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
