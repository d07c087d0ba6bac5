"""The watchdog and the retry loop read time on an injected clock and back off through an
injected sleep: deadlines and budgets are decided by scripted time, never by the machine's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.broker.memory import MemoryBroker
from tokenwire.reliability.retry import RetryPolicy
from tokenwire.reliability.stats import Reliability
from tokenwire.reliability.timeouts import DeadlineExceeded, Watchdog
from tokenwire.routes import Route
from tokenwire.runs.attempts import Attempts, AttemptsFailed
from tokenwire.runs.recorder import RunRecorder


def _scripted(*readings: float) -> Callable[[], float]:
    """A clock giving ``readings`` in order, then the last one forever."""
    values = list(readings)

    def now() -> float:
        return values.pop(0) if len(values) > 1 else values[0]

    return now


class _Stamp:
    def __init__(self, last_token_at: float | None) -> None:
        self.last_token_at = last_token_at


async def _forever() -> None:
    await asyncio.Event().wait()


async def test_the_first_token_deadline_is_measured_on_the_injected_clock() -> None:
    # Entered at 0; by the first look the clock says 31: a 30 s first-token deadline passed.
    with pytest.raises(DeadlineExceeded) as raised:
        async with asyncio.timeout(30):  # a bound on a broken watchdog, not an assertion
            async with Watchdog(_Stamp(None), first_token=30, now=_scripted(0.0, 31.0)):
                await _forever()
    assert raised.value.kind == "first_token"


async def test_a_stall_is_measured_from_the_token_stamp_on_the_same_clock() -> None:
    # A token at 50 (after entering at 0); the clock then reads 60: a 5 s stall passed.
    with pytest.raises(DeadlineExceeded) as raised:
        async with asyncio.timeout(30):
            async with Watchdog(_Stamp(50.0), stall=5, now=_scripted(0.0, 60.0)):
                await _forever()
    assert raised.value.kind == "stall"


class _Unavailable(Exception):
    status_code = 503


def _flaky(failures: int) -> RunnableLambda[Any, str]:
    calls = {"n": 0}

    def call(value: Any) -> str:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise _Unavailable("try again")
        return "ok"

    return RunnableLambda(call)


def _attempts(route: Route, clock: Callable[[], float], slept: list[float]) -> Attempts:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    log = MemoryBroker().create("r")
    recorder = RunRecorder(log, clock=clock)
    return Attempts(route, "hi", {}, recorder, log, Reliability(), sleep=sleep)


async def test_backoff_waits_through_the_injected_sleep() -> None:
    # Backoffs of 30 s and up: with a real sleep this test would take minutes.
    policy = RetryPolicy(max_retries=2, base_delay=30, max_delay=60, budget_seconds=1000)
    slept: list[float] = []
    attempts = _attempts(Route("r", _flaky(2), retry=policy), _scripted(0.0), slept)
    assert await attempts.run() == "ok"
    assert len(slept) == 2 and 15 <= slept[0] <= 30 and 30 <= slept[1] <= 60
    assert attempts.number == 3


async def test_the_retry_budget_is_spent_on_the_injected_clock() -> None:
    # The first attempt "took" 100 s on the recorder's clock: no 10 s budget is left.
    policy = RetryPolicy(max_retries=3, base_delay=0.25, budget_seconds=10)
    slept: list[float] = []
    attempts = _attempts(Route("r", _flaky(1), retry=policy), _scripted(0.0, 0.0, 100.0), slept)
    with pytest.raises(AttemptsFailed):
        await attempts.run()
    assert slept == [] and attempts.number == 1
