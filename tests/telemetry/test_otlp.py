"""A real OTLP/HTTP round trip to a receiver on 127.0.0.1."""

from __future__ import annotations

import httpx

from tests.telemetry.otlp_receiver import attributes, receiver, run_span
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect


def test_one_span_per_run_with_genai_attributes_and_the_runs_trace_id(mock_url: str) -> None:
    with receiver() as received:
        settings = Settings(otlp_endpoint=received.url, stall_threshold_seconds=0.05, auth="none")
        model = demo_model(f"{mock_url}/v1", "ttft=50,tokens=12,fault=stall:4:0.2")
        gateway = Gateway([Route("chat", model)], settings)
        with (
            BackgroundServer(create_app(gateway)) as server,
            httpx.Client(base_url=server.url) as c,
        ):
            events = collect(c, "chat", {"input": "trace me"})
        # Stopping the gateway flushed and shut down the exporters.
        spans = received.wait_for_spans(2)
    # The run's span, and its one model call's.
    assert len(spans) == 2
    span = run_span(spans)
    start = events[0].data
    assert span.trace_id.hex() == start["trace_id"]
    assert span.name == "chat mock@ttft=50,tokens=12,fault=stall:4:0.2"
    values = attributes(span)
    usage = events[-1].data["usage"]
    assert values["gen_ai.operation.name"] == "chat"
    assert values["gen_ai.provider.name"] == "openai"
    assert values["gen_ai.request.model"].startswith("mock@")
    assert values["gen_ai.request.stream"] is True
    assert abs(values["gen_ai.response.time_to_first_chunk"] * 1000
               - events[-1].data["timings"]["ttft_ms"]) < 0.01  # fmt: skip
    assert values["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert values["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    assert values["tokenwire.run_id"] == start["run_id"]
    assert "error.type" not in values
    stall_events = [e for e in span.events if e.name == "gen_ai.stream.stall"]
    assert len(stall_events) == 1
    assert received.metrics, "metrics were exported too"


def test_a_failed_run_carries_error_type(mock_url: str) -> None:
    with receiver() as received:
        gateway = Gateway(
            [Route("chat", demo_model(f"{mock_url}/v1", "fault=500"))],
            Settings(otlp_endpoint=received.url, auth="none"),
        )
        with (
            BackgroundServer(create_app(gateway)) as server,
            httpx.Client(base_url=server.url) as c,
        ):
            collect(c, "chat", {"input": "fail"})
        spans = received.wait_for_spans(2)
    span = run_span(spans)
    assert attributes(span)["error.type"] == "upstream_error"
    assert span.status.code == 2  # STATUS_CODE_ERROR
    assert span.status.message.startswith("failed: upstream_error")
    (call,) = [s for s in spans if s is not span]
    assert call.parent_span_id == span.span_id and call.status.code == 2
