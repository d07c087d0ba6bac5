"""Telemetry: every stream measured token by token, exported without slowing it.

* ``timing`` — inter-token gap statistics (shared by the gateway and the callback handler);
* ``pricing`` — the bundled price table and cost;
* ``record`` — one frozen record per finished run;
* ``metrics`` — Prometheus instruments named after the OpenTelemetry GenAI conventions;
* ``pipeline`` — the bounded queue exporters sit behind (``jsonl``, ``otlp``, metrics);
* ``handler`` — a LangChain callback handler for use in any LangChain app;
* ``stats`` — ``tokenwire stats FILE`` over a JSONL sink.
"""

from tokenwire.telemetry.handler import StreamTelemetryHandler, StreamTiming
from tokenwire.telemetry.pricing import Price, PriceTable
from tokenwire.telemetry.record import RunRecord

__all__ = ["Price", "PriceTable", "RunRecord", "StreamTelemetryHandler", "StreamTiming"]
