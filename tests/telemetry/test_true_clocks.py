"""True clocks end to end, over real HTTP: TTFT from the request's arrival with the queue
reported apart, a burst's k-th user's wait, delivery lag, TTFT in /metrics at the first
token. Clocks are the gateway's (scripted where a value is asserted), never the wall's."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from langchain_core.runnables import RunnableGenerator
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.gateway.hooks import Hooks
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect, poll_until

NO_AUTH = Settings(auth="none")
Serve = Callable[..., httpx.Client]


class ManualClock:
    """The gateway's clock, moved only by the test (or a hook it wrote)."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def _samples(client: httpx.Client, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = client.get("/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def test_run_end_has_queue_and_ttft_from_arrival(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "ttft=20,itl=5,tokens=20"))])
    events = collect(client, "chat", {"input": "time me"})
    timings = events[-1].data["timings"]
    assert timings["queue_ms"] is not None and timings["queue_ms"] >= 0
    # The first token comes after the launch, which comes after the arrival.
    assert timings["ttft_ms"] > timings["queue_ms"]
    # From launch to run.end holds the first token's wait and every gap after it.
    generating = timings["duration_ms"] - (timings["ttft_ms"] - timings["queue_ms"])
    assert generating >= timings["itl_max_ms"] >= timings["itl_p50_ms"] > 0
    # Tokens were written while the run streamed: each write reported its lag.
    assert 0 <= timings["delivery_lag_p95_ms"] <= timings["delivery_lag_max_ms"]
    lags = poll_until(
        lambda: _samples(client, "tokenwire_delivery_lag_seconds_count").get((("route", "chat"),))
    )
    assert lags >= 1


class _Late:
    """Outermost middleware: the app sees each request only after ``seconds`` of the
    gateway's clock went by — the wait of a request queued behind a busy loop."""

    def __init__(self, app: ASGIApp, clock: ManualClock, seconds: float) -> None:
        self.app, self.clock, self.seconds = app, clock, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/routes/"):
            self.clock.advance(self.seconds)
        await self.app(scope, receive, send)


def test_ttft_counts_from_the_servers_first_sight_of_the_request(mock_url: str) -> None:
    clock = ManualClock()
    gateway = Gateway([Route("chat", demo_model(f"{mock_url}/v1"))], NO_AUTH, clock=clock)
    app = create_app(gateway)
    app.add_middleware(_Late, clock=clock, seconds=5.0)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as c:
        timings = collect(c, "chat", {"input": "hi"})[-1].data["timings"]
    # Stamped by the server's protocol before the app (and its 5 s) ran, not after.
    assert timings["queue_ms"] == 5000.0
    assert timings["ttft_ms"] == 5000.0


class _Turnstile:
    """Admission for a burst: every start waits until all ``n`` are in, then they go one
    at a time, each costing ``cost`` seconds of the gateway's clock (validation, say)."""

    def __init__(self, n: int, clock: ManualClock, cost: float) -> None:
        self.n, self.clock, self.cost = n, clock, cost
        self.arrived = 0
        self._all_in: asyncio.Event | None = None
        self._one_at_a_time: asyncio.Lock | None = None

    async def admit(self, owner: str) -> _NoSlot:
        if self._all_in is None:
            self._all_in, self._one_at_a_time = asyncio.Event(), asyncio.Lock()
        assert self._one_at_a_time is not None
        self.arrived += 1
        if self.arrived == self.n:
            self._all_in.set()
        await self._all_in.wait()
        async with self._one_at_a_time:
            self.clock.advance(self.cost)
        return _NoSlot()


class _NoSlot:
    def hold(self, run: Run) -> None:
        return None

    def release(self) -> None:
        return None


def test_a_bursts_kth_user_sees_its_wait(mock_url: str) -> None:
    n, clock = 8, ManualClock()
    turnstile = _Turnstile(n, clock, cost=0.5)
    route = Route("chat", demo_model(f"{mock_url}/v1", "ttft=0,itl=0,tokens=3"))
    gateway = Gateway([route], NO_AUTH, clock=clock, hooks=Hooks(admission=turnstile))
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url) as c,
        ThreadPoolExecutor(n) as pool,
    ):
        ends = list(pool.map(lambda _: collect(c, "chat", {"input": "hi"})[-1], range(n)))
    queued = sorted(end.data["timings"]["queue_ms"] for end in ends)
    # All arrived at 0; the k-th admitted was launched after k turns of 500 ms.
    assert queued == [500.0 * k for k in range(1, n + 1)]
    for end in ends:
        assert end.data["timings"]["ttft_ms"] >= end.data["timings"]["queue_ms"]


def test_ttft_is_in_metrics_at_the_first_token_while_the_run_streams(serve: Serve) -> None:
    release = threading.Event()

    async def first_then_wait(_: AsyncIterator[Any]) -> AsyncIterator[str]:
        yield "first"
        await asyncio.to_thread(release.wait, 30)
        yield " last"

    client = serve([Route("held", RunnableGenerator(first_then_wait))])
    name = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
    try:
        with client.stream(
            "POST",
            "/v1/routes/held/runs",
            json={"input": "hi"},
            headers={"Accept": "text/event-stream"},
        ) as stream:
            run_id = stream.headers["X-Run-Id"]
            observed = poll_until(lambda: sum(_samples(client, name).values()) or None)
            # Observed while the run still streams: its end has not happened yet.
            assert observed == 1
            assert client.get(f"/v1/runs/{run_id}").json()["status"] == "running"
            release.set()
            body = stream.read()
        assert b"run.end" in body
    finally:
        release.set()
    # The run's end observes nothing more into the histogram.
    runs = poll_until(lambda: sum(_samples(client, "tokenwire_runs_total").values()) or None)
    assert runs == 1
    assert sum(_samples(client, name).values()) == 1
