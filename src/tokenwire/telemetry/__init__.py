"""Telemetry: every stream measured token by token, exported without slowing it.

* ``collector`` — the gateway's telemetry: a recorder per run in, one record per run out;
* ``record`` — one frozen record per finished run;
* ``metrics`` — Prometheus instruments named after the OpenTelemetry GenAI conventions;
* ``pipeline`` — the bounded queue exporters sit behind (``jsonl``, ``otlp``, metrics);
* ``exporters`` — which exporters run (``[telemetry] exporters``) and their protocol;
* ``wandb_runs`` — the Weights & Biases exporter (``wandb`` extra);
* ``handler`` — a LangChain callback handler for use in any LangChain app;
* ``stats`` — ``tokenwire stats FILE`` over a JSONL sink.

Token estimates, prices and gap statistics are :mod:`tokenwire.usage`'s.
"""

from tokenwire.telemetry.handler import StreamTelemetryHandler, StreamTiming
from tokenwire.telemetry.record import RunRecord

__all__ = ["RunRecord", "StreamTelemetryHandler", "StreamTiming"]
