"""A real OTLP/HTTP round trip to a receiver on 127.0.0.1."""

from __future__ import annotations

import gzip
import time
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect


def _receiver() -> tuple[Starlette, list[ExportTraceServiceRequest], list[bytes]]:
    traces: list[ExportTraceServiceRequest] = []
    metrics: list[bytes] = []

    async def receive(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if request.url.path == "/v1/traces":
            traces.append(ExportTraceServiceRequest.FromString(body))
        else:
            metrics.append(body)
        return Response(b"", media_type="application/x-protobuf")

    app = Starlette(
        routes=[HttpRoute("/v1/traces", receive, methods=["POST"]),
                HttpRoute("/v1/metrics", receive, methods=["POST"])]
    )  # fmt: skip
    return app, traces, metrics


def _attributes(span: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        values[kv.key] = getattr(value, value.WhichOneof("value"))
    return values


def test_one_span_per_run_with_genai_attributes_and_the_runs_trace_id(mock_url: str) -> None:
    app, traces, metrics = _receiver()
    with BackgroundServer(app) as receiver:
        settings = Settings(otlp_endpoint=receiver.url, stall_threshold_seconds=0.05, auth="none")
        model = demo_model(f"{mock_url}/v1", "ttft=50,tokens=12,fault=stall:4:0.2")
        gateway = Gateway([Route("chat", model)], settings)
        with (
            BackgroundServer(create_app(gateway)) as server,
            httpx.Client(base_url=server.url) as c,
        ):
            events = collect(c, "chat", {"input": "trace me"})
        # Stopping the gateway flushed and shut down the exporters.
        deadline = time.monotonic() + 5
        while not traces and time.monotonic() < deadline:
            time.sleep(0.05)
    spans = [
        s for t in traces for rs in t.resource_spans for ss in rs.scope_spans for s in ss.spans
    ]
    assert len(spans) == 1
    span = spans[0]
    start = events[0].data
    assert span.trace_id.hex() == start["trace_id"]
    assert span.name == "chat mock@ttft=50,tokens=12,fault=stall:4:0.2"
    attributes = _attributes(span)
    usage = events[-1].data["usage"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"].startswith("mock@")
    assert attributes["gen_ai.request.stream"] is True
    assert abs(attributes["gen_ai.response.time_to_first_chunk"] * 1000
               - events[-1].data["timings"]["ttft_ms"]) < 0.01  # fmt: skip
    assert attributes["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert attributes["gen_ai.usage.output_tokens"] == usage["output_tokens"]
    assert attributes["tokenwire.run_id"] == start["run_id"]
    assert "error.type" not in attributes
    stall_events = [e for e in span.events if e.name == "gen_ai.stream.stall"]
    assert len(stall_events) == 1
    assert metrics, "metrics were exported too"


def test_a_failed_run_carries_error_type(mock_url: str) -> None:
    app, traces, _ = _receiver()
    with BackgroundServer(app) as receiver:
        gateway = Gateway(
            [Route("chat", demo_model(f"{mock_url}/v1", "fault=500"))],
            Settings(otlp_endpoint=receiver.url, auth="none"),
        )
        with (
            BackgroundServer(create_app(gateway)) as server,
            httpx.Client(base_url=server.url) as c,
        ):
            collect(c, "chat", {"input": "fail"})
        deadline = time.monotonic() + 5
        while not traces and time.monotonic() < deadline:
            time.sleep(0.05)
    span = traces[0].resource_spans[0].scope_spans[0].spans[0]
    assert _attributes(span)["error.type"] == "upstream_error"
    assert span.status.code == 2  # STATUS_CODE_ERROR
