"""The recorder's clocks, scripted: TTFT and the queue from arrival, provider-only stalls,
delivery lag per write."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from tests.pipeline.test_holdback import Stops
from tokenwire.broker.memory import MemoryBroker
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.guard_worker import GuardWorker
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.protocols.native_sse import NativeEncoder
from tokenwire.protocols.subscription import LogFeed
from tokenwire.runs.recorder import RunRecorder
from tokenwire.usage.loop_lag import LoopLag


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _recorder(clock: ManualClock, **kwargs: object) -> RunRecorder:
    return RunRecorder(MemoryBroker().create("r"), clock=clock, **kwargs)  # type: ignore[arg-type]


def test_ttft_counts_from_arrival_and_the_queue_is_reported_apart() -> None:
    clock = ManualClock(10.0)
    recorder = _recorder(clock, arrived_at=9.25)  # launched at 10.0, 750 ms after arrival
    clock.now = 10.5
    recorder.token("Hi")
    clock.now = 11.0
    timings = recorder.timings()
    assert timings["queue_ms"] == 750.0
    assert timings["ttft_ms"] == 1250.0  # what the user waited: queue included
    assert timings["duration_ms"] == 1000.0  # launch to run.end


def test_without_an_arrival_the_run_arrived_when_launched() -> None:
    clock = ManualClock(3.0)
    recorder = _recorder(clock)
    clock.now = 3.2
    recorder.token("Hi")
    assert recorder.timings()["queue_ms"] == 0.0
    assert recorder.timings()["ttft_ms"] == 200.0


def test_a_gap_the_loop_was_blocked_in_is_no_provider_stall() -> None:
    clock = ManualClock(0.0)
    lag = LoopLag(clock)  # never started: it knows only what the test tells it
    recorder = _recorder(clock, loop_lag=lag, stall_threshold=1.0)
    for at in (0.25, 0.5):
        clock.now = at
        recorder.token("a")
    lag.blocked(0.75, 2.0)  # an export held the loop: the chunk waited in the socket
    clock.now = 2.0
    recorder.token("b")  # a 1.5 s gap, 1.25 s of it the gateway's
    clock.now = 3.5
    recorder.token("c")  # a 1.5 s gap the provider took
    timings = recorder.timings()
    assert timings["itl_max_ms"] == 1500.0  # what the client saw is still reported
    assert timings["stalls"] == 1
    assert recorder.stall_gaps == [(3.5, 1.5)]


def test_a_block_measured_only_after_the_gap_still_counts() -> None:
    async def scenario() -> float:
        lag = LoopLag(time.perf_counter, interval=0.01, tolerance=0.005)
        lag.start()
        try:
            await asyncio.sleep(0)
            before = time.perf_counter()
            _block_the_loop(0.1)  # its tick is overdue now
            lag.settle()  # what the recorder asks before judging a gap
            return lag.blocked_within(before, time.perf_counter())
        finally:
            lag.stop()

    # The tick was due within 10 ms of the block's start: at least 90 ms of it is seen.
    assert asyncio.run(scenario()) >= 0.05


def _block_the_loop(seconds: float) -> None:
    """What a synchronous exporter on the loop would do."""
    time.sleep(seconds)


def test_blocked_time_counts_only_the_overlap() -> None:
    lag = LoopLag(ManualClock())
    lag.blocked(1.0, 2.0)
    lag.blocked(3.0, 4.0)
    assert lag.blocked_within(0.0, 0.5) == 0.0
    assert lag.blocked_within(1.5, 3.5) == 1.0
    assert lag.blocked_within(0.0, 10.0) == 2.0


def test_each_write_reports_the_lag_of_its_oldest_token() -> None:
    clock = ManualClock(0.0)
    log = MemoryBroker().create("r")
    recorder = RunRecorder(log, clock=clock)
    feed = LogFeed(log, NativeEncoder(), delivery=recorder.delivery)
    clock.now = 1.0
    recorder.token("a")
    clock.now = 1.25
    recorder.token("b")
    assert feed.take()
    clock.now = 1.5
    feed.written()  # "a" waited 500 ms, "b" 250 ms: the write's lag is the oldest's
    clock.now = 2.0
    recorder.token("c")
    assert feed.take()
    clock.now = 2.125
    feed.written()
    assert list(recorder.delivery.lags) == [0.5, 0.125]
    timings = recorder.timings()
    assert timings["delivery_lag_max_ms"] == 500.0
    assert 125.0 < timings["delivery_lag_p95_ms"] <= 500.0


def test_a_replay_is_no_delivery_lag() -> None:
    clock = ManualClock(0.0)
    log = MemoryBroker().create("r")
    recorder = RunRecorder(log, clock=clock)
    recorder.token("said before anyone listened")
    clock.now = 60.0
    late = LogFeed(log, NativeEncoder(), delivery=recorder.delivery)
    assert late.take()
    late.written()
    assert len(recorder.delivery.lags) == 0
    assert recorder.timings()["delivery_lag_max_ms"] is None


def test_the_first_token_is_reported_once() -> None:
    clock = ManualClock(0.0)
    seen: list[float | None] = []
    recorder = _recorder(clock, on_first_token=lambda r: seen.append(r.ttft))
    clock.now = 0.3
    recorder.token("a")
    recorder.token("b")
    assert seen == [0.3]
    assert recorder.first_token_reported


def test_a_failing_first_token_callback_does_not_break_the_token() -> None:
    def fail(_: RunRecorder) -> None:
        raise RuntimeError("metrics broke")

    recorder = _recorder(ManualClock(), on_first_token=fail)
    assert recorder.token("a") is True
    assert recorder.text == "a" and not recorder.first_token_reported


class _GatedClassifier:
    """An async guard whose checks end only when the test says (its clock moved on)."""

    name = "slow"
    window = 0

    def __init__(self) -> None:
        self.gate: asyncio.Queue[None] = asyncio.Queue()

    async def inspect(self, text: str, offset: int) -> Sequence[Finding]:
        await self.gate.get()
        return []


def test_guards_holding_text_back_cause_no_provider_stall() -> None:
    async def scenario() -> RunRecorder:
        clock = ManualClock(0.0)
        recorder = RunRecorder(MemoryBroker().create("r"), clock=clock, stall_threshold=1.0)
        classifier = _GatedClassifier()
        rails = Guardrails(guards=(classifier,))
        guards = GuardWorker(recorder, rails, Stops(), on_arrival=recorder.provider_token)

        async def delta_at(at: float) -> None:
            clock.now = at
            guards.token("word ")
            await asyncio.sleep(0)

        async def check_ends_at(at: float) -> None:
            clock.now = at
            classifier.gate.put_nowait(None)
            for _ in range(3):
                await asyncio.sleep(0)

        for at in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75):
            await delta_at(at)  # the model streams on while the first check runs
        await check_ends_at(2.0)  # the first word out; the next check takes the rest
        await delta_at(3.25)  # the provider paused 1.5 s
        await check_ends_at(4.0)  # the held words out, 2 s after the first
        await check_ends_at(4.25)
        clock.now = 4.5
        drained = asyncio.ensure_future(guards.drain())
        while not drained.done():
            classifier.gate.put_nowait(None)
            await asyncio.sleep(0)
        return recorder

    recorder = asyncio.run(scenario())
    # The client saw a 2 s gap (the classifier's) but the provider paused only once.
    assert recorder.timings()["itl_max_ms"] >= 2000.0
    assert recorder.stall_gaps == [(3.25, 1.5)]
