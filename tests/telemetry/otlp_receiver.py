"""A real OTLP/HTTP receiver on 127.0.0.1 for the exporter tests: it decodes every trace
export (protobuf, gzip or not) and keeps the metrics bodies and each request's headers."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from tokenwire.server.background import BackgroundServer
from tokenwire.testing import poll_until


@dataclass
class Received:
    traces: list[ExportTraceServiceRequest] = field(default_factory=list)
    metrics: list[bytes] = field(default_factory=list)
    #: (path, headers) of every request.
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def spans(self) -> list[Any]:
        return [
            s
            for t in self.traces
            for rs in t.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]

    def resources(self) -> list[dict[str, Any]]:
        return [attributes(rs.resource) for t in self.traces for rs in t.resource_spans]

    def wait_for_spans(self, count: int) -> list[Any]:
        """At least ``count`` spans (the exporter sends them from its own thread)."""
        poll_until(lambda: len(self.spans()) >= count or None, timeout=10, message="no spans")
        return self.spans()


def app(received: Received, metrics_status: int = 200) -> Starlette:
    async def receive(request: Request) -> Response:
        body = await request.body()
        received.requests.append((request.url.path, dict(request.headers)))
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if request.url.path == "/v1/traces":
            received.traces.append(ExportTraceServiceRequest.FromString(body))
            return Response(b"", media_type="application/x-protobuf")
        received.metrics.append(body)
        return Response(b"", status_code=metrics_status, media_type="application/x-protobuf")

    return Starlette(
        routes=[HttpRoute("/v1/traces", receive, methods=["POST"]),
                HttpRoute("/v1/metrics", receive, methods=["POST"])]
    )  # fmt: skip


@contextmanager
def receiver(metrics_status: int = 200) -> Iterator[Received]:
    """A receiver running on 127.0.0.1; ``metrics_status``: what ``/v1/metrics`` answers
    (Phoenix: 405)."""
    received = Received()
    with BackgroundServer(app(received, metrics_status)) as server:
        received.url = server.url
        yield received


def attributes(item: Any) -> dict[str, Any]:
    """A span's (or resource's, or event's) attributes as plain values."""
    values: dict[str, Any] = {}
    for kv in item.attributes:
        value = kv.value
        values[kv.key] = getattr(value, value.WhichOneof("value"))
    return values


def run_span(spans: list[Any]) -> Any:
    """The run span: the one carrying ``tokenwire.run_id``."""
    (found,) = [s for s in spans if "tokenwire.run_id" in attributes(s)]
    return found
