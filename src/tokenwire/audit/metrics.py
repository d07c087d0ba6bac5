"""The audit trail's counters as Prometheus metrics, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tokenwire.audit.trail import AuditTrail

__all__ = ["AuditCollector"]


class AuditCollector(Collector):
    """``tokenwire_audit_records_total{outcome}``: ``written`` (in the chain, full or
    minimal), ``unstorable`` (in the chain only as a minimal record: the full one was
    refused), ``dropped`` (not in the chain at all); and the writer's queue length."""

    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    def collect(self) -> Iterator[Metric]:
        trail = self._trail
        records = CounterMetricFamily(
            "tokenwire_audit_records", "Audit records by outcome.", labels=["outcome"]
        )
        records.add_metric(["written"], trail.written)
        records.add_metric(["unstorable"], trail.unstorable)
        records.add_metric(["dropped"], trail.dropped)
        yield records
        yield GaugeMetricFamily(
            "tokenwire_audit_queue", "Finished runs waiting for the audit writer.", trail.queued
        )
