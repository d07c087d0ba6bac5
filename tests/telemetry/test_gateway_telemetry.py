"""Telemetry of real streams: ChatOpenAI → mock provider → gateway → client."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.telemetry.scrape import sample, wait_for_metric
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.mock import prompt_tokens, reply_tokens
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.server.cli import main
from tokenwire.testing import collect, iter_sse, start_stream, text_of
from tokenwire.usage.pricing import PriceTable

Serve = Callable[..., httpx.Client]
PRICES = PriceTable({"mock": {"input": 1.0, "output": 2.0}})
NO_AUTH = Settings(auth="none")


def _timed_stream(client: httpx.Client, body: dict[str, Any]) -> tuple[float, list[float], Any]:
    """The client's own clock: TTFT from sending the request, and every token gap."""
    arrivals: list[float] = []
    sent = time.perf_counter()
    end: Any = None
    with start_stream(client, "chat", body) as response:
        for event in iter_sse(response):
            if event.event == "token":
                arrivals.append(time.perf_counter())
            elif event.event == "run.end":
                end = event.data
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    return arrivals[0] - sent, sorted(gaps), end


def test_ttft_and_itl_are_bounded_by_the_clients_clock(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "ttft=300,itl=20,tokens=30"))])
    collect(client, "chat", {"input": "warm up"})  # first-request costs are not TTFT's subject
    client_ttft, client_gaps, end = _timed_stream(client, {"input": "measure me"})
    timings = end["timings"]
    # Causality, not tolerances (which a loaded CI machine breaks): the gateway's first
    # token is recorded after the mock's 300 ms delay began and before the client read it;
    # every gap the gateway saw is bounded by the stream it was in. How close the figures
    # are to the client's is a benchmark's subject, not a unit test's.
    assert 0.300 <= timings["ttft_ms"] / 1000 <= client_ttft, (timings, client_ttft)
    assert len(client_gaps) == 29
    assert timings["itl_max_ms"] >= timings["itl_p95_ms"] >= timings["itl_p50_ms"] > 0
    assert timings["itl_p50_ms"] <= timings["duration_ms"] - timings["ttft_ms"]
    assert timings["duration_ms"] >= timings["ttft_ms"] + 28 * 19


def test_usage_equals_the_providers_and_cost_equals_tokens_times_price(mock_url: str) -> None:
    gateway = Gateway([Route("chat", demo_model(f"{mock_url}/v1"))], NO_AUTH, prices=PRICES)
    with BackgroundServer(create_app(gateway)) as server, httpx.Client(base_url=server.url) as c:
        events = collect(c, "chat", {"input": "count my tokens please"})
    usage = next(e.data for e in events if e.event == "usage")
    messages = [{"role": "user", "content": "count my tokens please"}]
    expected_in = prompt_tokens(messages)
    expected_out = len(reply_tokens(messages))
    assert (usage["input_tokens"], usage["output_tokens"]) == (expected_in, expected_out)
    assert usage["estimated"] is False
    assert usage["cost_usd"] == pytest.approx((expected_in * 1.0 + expected_out * 2.0) / 1e6)
    assert events[-1].data["usage"] == usage


def test_unpriced_models_cost_null(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1"))])
    usage = next(e.data for e in collect(client, "chat", {"input": "x"}) if e.event == "usage")
    assert usage["cost_usd"] is None and usage["output_tokens"] > 0


def test_metrics_parse_and_hold_the_histograms_after_runs(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "itl=2"))])
    for _ in range(3):
        collect(client, "chat", {"input": "one two three four"})
    families = wait_for_metric(client, "tokenwire_runs_total", 3, route="chat")
    labels = {
        "route": "chat",
        "gen_ai_request_model": "mock@itl=2",
        "gen_ai_provider_name": "openai",
        "gen_ai_operation_name": "chat",
        "cohort": "stream",
        "protocol": "native",
        "key_alias": "anonymous",
    }
    ttft = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
    assert sample(families, ttft, **labels) == 3
    per_chunk = "gen_ai_client_operation_time_per_output_chunk_seconds_count"
    assert sample(families, per_chunk, **labels) > 3
    assert sample(families, "gen_ai_client_operation_duration_seconds_count", status="completed")
    output = {"gen_ai_token_type": "output", "estimated": "false"}
    assert sample(families, "gen_ai_client_token_usage_count", **labels, **output) == 3
    bucket = "gen_ai_client_operation_time_to_first_chunk_seconds_bucket"
    assert sample(families, bucket, le="81.92") == 3
    assert sample(families, "tokenwire_active_streams", route="chat") == 0
    for family in families.values():
        for found in family.samples:
            assert "run_id" not in found.labels and "user" not in found.labels


def test_tokens_generated_after_the_client_left_are_counted(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "tokens=40,itl=5"))])
    body = {"input": "x", "on_disconnect": "continue"}
    with start_stream(client, "chat", body) as response:
        for i, _ in enumerate(iter_sse(response)):
            if i == 3:
                break
    families = wait_for_metric(client, "tokenwire_tokens_after_disconnect_total", 1)
    assert sample(families, "tokenwire_tokens_after_disconnect_total", route="chat") > 20


def test_jsonl_sink_and_stats_command(
    mock_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = tmp_path / "runs.jsonl"
    settings = Settings(telemetry_jsonl=str(sink), auth="none")
    gateway = Gateway(
        [Route("chat", demo_model(f"{mock_url}/v1", "itl=3"))], settings, prices=PRICES
    )
    with BackgroundServer(create_app(gateway)) as server, httpx.Client(base_url=server.url) as c:
        for i in range(4):
            collect(c, "chat", {"input": f"record number {i}"})
    # Stopping the server flushed the pipeline.
    lines = sink.read_text().splitlines()
    assert len(lines) == 4
    assert main(["stats", str(sink)]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("chat"))
    cells = row.split()
    assert cells[1] == "mock@itl=3" and cells[2] == "4" and cells[3] == "0"
    assert float(cells[-1]) > 0


def test_stream_usage_is_requested_from_models_behind_a_custom_base_url(
    serve: Serve, mock_url: str
) -> None:
    import openai
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    def model(**kwargs: Any) -> ChatOpenAI:
        return ChatOpenAI(
            base_url=f"{mock_url}/v1", api_key=SecretStr("k"), model="mock",
            http_async_client=openai.DefaultAsyncHttpxClient(), **kwargs,
        )  # fmt: skip

    plain = model()
    assert plain.stream_usage is None  # what LangChain leaves for a custom base URL
    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | model() | StrOutputParser()
    refused = model(stream_usage=False)
    client = serve([Route("bare", plain), Route("chain", chain), Route("off", refused)])
    for route, body in [("bare", "hi"), ("chain", {"q": "hi"})]:
        usage = next(e.data for e in collect(client, route, {"input": body}) if e.event == "usage")
        assert usage["estimated"] is False, route
    usage = next(e.data for e in collect(client, "off", {"input": "hi"}) if e.event == "usage")
    assert usage["estimated"] is True and usage["output_tokens"] == (len("You said: hi") + 3) // 4


def test_reliability_and_guardrail_counters_reach_prometheus(serve: Serve, mock_url: str) -> None:
    from tokenwire.pipeline.guardrails import Guardrails
    from tokenwire.pipeline.pii import PiiGuard
    from tokenwire.reliability.breaker import BreakerPolicy
    from tokenwire.reliability.retry import RetryPolicy

    flaky = Route(
        "flaky",
        demo_model(f"{mock_url}/v1", "fault=500"),
        retry=RetryPolicy(max_retries=1, base_delay=0.01),
        circuit_breaker=BreakerPolicy(failure_threshold=1, cooldown_seconds=60),
    )
    guarded = Route(
        "guarded", demo_model(f"{mock_url}/v1"), guardrails=Guardrails(guards=(PiiGuard(),))
    )
    client = serve([flaky, guarded])
    assert collect(client, "flaky", {"input": "x"})[-1].data["status"] == "failed"
    events = collect(client, "guarded", {"input": "mail me at jane.doe@example.com"})
    assert text_of(events) == "You said: mail me at [EMAIL]"
    families = wait_for_metric(
        client, "tokenwire_guardrail_actions_total", 1, action="redact", rule="pii.email"
    )
    assert sample(families, "tokenwire_reliability_events_total", kind="retries") == 1
    upstream = {"upstream": "flaky"}
    assert sample(families, "tokenwire_circuit_opened_total", **upstream) == 1
    assert sample(families, "tokenwire_circuit_open", **upstream) == 1


def ticking_clock(step: float) -> Callable[[], float]:
    """A clock that moves ``step`` seconds on every read: timings become exact counts."""
    reads = itertools.count()
    return lambda: next(reads) * step


def test_run_end_timings_are_read_from_the_gateways_clock(mock_url: str) -> None:
    # Every read moves the clock 10 ms: the arrival stamp, the launch, the model call's
    # start and end (its trace span), each token, each write (delivery lag), run.end.
    # Timings are then whole multiples of 10 ms, ordered as the reads happened — never
    # the wall clock's values.
    model = demo_model(f"{mock_url}/v1", "ttft=0,itl=0,tokens=6")
    gateway = Gateway([Route("chat", model)], NO_AUTH, clock=ticking_clock(0.010))
    with BackgroundServer(create_app(gateway)) as server, httpx.Client(base_url=server.url) as c:
        events = collect(c, "chat", {"input": "time me"})
    assert len([e for e in events if e.event == "token"]) == 6
    timings = events[-1].data["timings"]
    for name in ("ttft_ms", "queue_ms", "itl_p50_ms", "itl_max_ms", "duration_ms"):
        assert timings[name] % 10 == 0 and timings[name] >= 10, (name, timings)
    assert timings["stalls"] == 0
    # Arrival (stamped by the server's protocol) → launch → first token: one read at least.
    assert timings["ttft_ms"] > timings["queue_ms"]
    # From launch: the first token, five gaps of 10 ms at least, then run.end.
    assert timings["duration_ms"] >= timings["ttft_ms"] - timings["queue_ms"] + 50
    assert timings["delivery_lag_max_ms"] is None or timings["delivery_lag_max_ms"] >= 10


def test_metrics_are_rendered_off_the_event_loop(mock_url: str) -> None:
    gateway = Gateway([Route("chat", demo_model(f"{mock_url}/v1"))], NO_AUTH)
    metrics = gateway.telemetry.metrics
    render = metrics.exposition
    rendered_on: list[str] = []

    def recording(accept: str = "") -> tuple[bytes, str]:
        rendered_on.append(threading.current_thread().name)
        return render(accept)

    metrics.exposition = recording  # type: ignore[method-assign]
    with BackgroundServer(create_app(gateway)) as server, httpx.Client(base_url=server.url) as c:
        answer = c.get("/metrics")
    assert answer.status_code == 200 and b"tokenwire_" in answer.content
    # BackgroundServer runs the gateway's event loop in its "tokenwire-server" thread.
    assert len(rendered_on) == 1 and rendered_on[0] != "tokenwire-server"
