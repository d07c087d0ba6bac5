"""What a gateway is built from: the broker and registry holding its runs, the cluster
sharing them with other replicas, telemetry, reliability counters and the audit trail.

Built once from settings; the gateway's facade, launcher and admission gate each take the
parts they use. Started and closed with the gateway (:meth:`start`, :meth:`aclose`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import perf_counter

from tokenwire.actions.ledger import Ledger, MemoryLedger, SqlLedger
from tokenwire.audit.metrics import AuditCollector
from tokenwire.audit.trail import AuditTrail
from tokenwire.broker.base import Broker
from tokenwire.broker.memory import MemoryBroker
from tokenwire.broker.redis import RedisBroker
from tokenwire.cluster.orphans import EndedOrphan
from tokenwire.cluster.replica import Cluster, redis_broker
from tokenwire.config import Settings
from tokenwire.reliability.stats import Reliability
from tokenwire.routes import Route
from tokenwire.runs.registry import RunRegistry
from tokenwire.security.credentials import Credentials
from tokenwire.security.key_limits import KeyLimits
from tokenwire.telemetry.collector import Telemetry
from tokenwire.telemetry.metrics import ReliabilityCollector
from tokenwire.telemetry.pipeline import Exporter
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock

__all__ = ["Services"]

#: How long shutdown waits for a masked route's LangSmith client to send what it holds.
_TRACE_FLUSH_SECONDS = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    broker: Broker
    registry: RunRegistry
    telemetry: Telemetry
    #: Circuit breakers and reliability counters (read by telemetry).
    reliability: Reliability
    #: Records every finished run (``create_app`` and the CLI build it from settings).
    audit: AuditTrail | None = None
    #: With a Redis broker: how this replica shares its runs with the others.
    cluster: Cluster | None = None
    #: What ``@action`` calls did (the audit database's, else this process's).
    actions: Ledger = field(default_factory=MemoryLedger)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        broker: Broker | None = None,
        *,
        prices: PriceTable | None = None,
        exporters: list[Exporter] | None = None,
        audit: AuditTrail | None = None,
        clock: Clock = perf_counter,
    ) -> Services:
        """The broker is Redis's with ``redis_url`` (unless one is given), else in memory."""
        if broker is None and settings.redis_url:
            broker = redis_broker(settings)
        broker = broker or MemoryBroker(settings.max_events_per_run)
        registry = RunRegistry(
            broker, max_runs=settings.max_runs, retention_seconds=settings.retention_seconds
        )
        telemetry = Telemetry(settings, prices, exporters, clock)
        reliability = Reliability()
        telemetry.metrics.registry.register(ReliabilityCollector(reliability))
        cluster = None
        if isinstance(broker, RedisBroker):
            cluster = Cluster(
                broker,
                registry,
                replica_ttl_seconds=settings.replica_ttl_seconds,
                retention_seconds=settings.retention_seconds,
                keep_inputs=audit is not None,
                on_orphan_ended=None if audit is None else _audited(audit),
            )
        if audit is not None:
            telemetry.metrics.registry.register(AuditCollector(audit))
        return cls(
            settings=settings,
            broker=broker,
            registry=registry,
            telemetry=telemetry,
            reliability=reliability,
            audit=audit,
            cluster=cluster,
            actions=_ledger(audit),
        )

    def key_limits(self, credentials: Credentials) -> KeyLimits:
        """``credentials``' per-key limits, counted for every replica with Redis (over the
        broker's connections), else in this process."""
        return KeyLimits.counted(
            credentials,
            self.registry,
            self.cluster.broker if self.cluster is not None else None,
            prefix=self.settings.redis_prefix,
            lease_seconds=self.settings.replica_ttl_seconds,
        )

    async def start(self) -> None:
        self.telemetry.pipeline.start()
        if self.audit is not None:
            await self.audit.start()  # creates the database the action ledger shares
        await self.actions.setup()
        if self.cluster is not None:
            await self.cluster.start()

    async def aclose(self, routes: Iterable[Route]) -> None:
        """Flush telemetry, then the traces of ``routes`` (masked routes trace through
        LangSmith clients of their own), then close the audit trail and the cluster."""
        await self.telemetry.pipeline.aclose()
        for route in routes:
            if route.masking is not None:
                flushed = asyncio.to_thread(route.masking.tracing.flush)
                with contextlib.suppress(TimeoutError):  # LangSmith away: do not hang here
                    await asyncio.wait_for(flushed, _TRACE_FLUSH_SECONDS)
        if self.audit is not None:
            await self.audit.aclose()
        if self.cluster is not None:
            await self.cluster.aclose()
        await self.actions.aclose()


def _ledger(audit: AuditTrail | None) -> Ledger:
    """The action ledger beside the audit records (one database to keep), else in memory."""
    if audit is None:
        return MemoryLedger()
    return SqlLedger(audit.store.url, schema=audit.store.schema)


def _audited(audit: AuditTrail) -> Callable[[EndedOrphan], None]:
    def submit(ended: EndedOrphan) -> None:
        """A run of a replica that died, ended by this replica's sweeper: audit it here."""
        audit.submit(ended.run, ended.input)

    return submit
