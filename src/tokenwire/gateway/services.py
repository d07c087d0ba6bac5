"""What a gateway is built from: the broker and registry holding its runs, the cluster
sharing them with other replicas, telemetry, reliability counters and the audit trail.

Built once from settings; the gateway's facade, launcher and admission gate each take the
parts they use. Started and closed with the gateway (:meth:`start`, :meth:`aclose`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from time import perf_counter

from tokenwire.actions.ledger import Ledger, MemoryLedger
from tokenwire.actions.retention import LedgerRetention
from tokenwire.actions.sql_ledger import SqlLedger
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
from tokenwire.runs.failures import SHUTDOWN_REASON
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run
from tokenwire.security.credentials import Credentials
from tokenwire.security.key_limits import KeyLimits
from tokenwire.telemetry.collector import Telemetry
from tokenwire.telemetry.metrics import ReliabilityCollector
from tokenwire.telemetry.pipeline import Exporter
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock

__all__ = ["Services"]

log = logging.getLogger("tokenwire")

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
    #: What ``@action`` calls did (the audit database's, else this process's); with Redis
    #: its calls in flight are claimed there too.
    actions: Ledger = field(default_factory=MemoryLedger)
    #: Deletes finished ledger entries past ``actions_retention_seconds``.
    _retention: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

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
                on_orphan_ended=_orphan_ended(audit, telemetry),
            )
        if audit is not None:
            telemetry.metrics.registry.register(AuditCollector(audit))
        actions = _ledger(audit)
        if cluster is not None:
            actions = cluster.claimed(actions)
        return cls(
            settings=settings,
            broker=broker,
            registry=registry,
            telemetry=telemetry,
            reliability=reliability,
            audit=audit,
            cluster=cluster,
            actions=actions,
        )

    async def any_run(self, run_id: str) -> Run | None:
        """A run by id — this replica's, else with Redis wherever it runs (a ``RemoteRun``)
        — whoever owns it: callers are answered through ``Gateway.find_run``. Raises
        ``ClusterUnavailable`` while Redis cannot be reached."""
        run = self.registry.get(run_id)
        if run is not None or self.cluster is None:
            return run
        return await self.cluster.lookup(run_id)

    async def live_runs_of(self, owner: str) -> int:
        """How many runs ``owner`` has live — on every replica, with Redis. This replica's
        own runs are counted from its registry, which is never behind (Redis may lag by a
        flush), and only after the Redis answer, so the count is current when returned."""
        shared = await self.cluster.live_runs_of(owner) if self.cluster is not None else set()
        live = {run.id for run in self.registry.live() if run.owner == owner}
        return len(live) + sum(1 for run_id in shared if self.registry.get(run_id) is None)

    async def drain(self, grace_seconds: float) -> None:
        """Let live runs finish for up to ``grace_seconds``, then end the rest with
        ``incomplete_stream`` (and ``run.end``), so their clients can rejoin elsewhere."""
        tasks = [r.task for r in self.registry.live() if r.task is not None]
        log.info("draining %d live run(s) for up to %g s", len(tasks), grace_seconds)
        if tasks and grace_seconds > 0:
            await asyncio.wait(tasks, timeout=grace_seconds)
        left = len(self.registry.live())
        if left:
            log.warning("ending %d run(s) still live after the grace period", left)
        await self.registry.cancel_all(SHUTDOWN_REASON)
        if self.cluster is not None:
            self.cluster.release_followers()

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
        self.telemetry.loop_lag.start()
        if self.audit is not None:
            await self.audit.start()  # creates the database the action ledger shares
        await self.actions.setup()
        if self.cluster is not None:
            await self.cluster.start()
        retention = LedgerRetention(self.actions, self.settings.actions_retention_seconds)
        if retention.seconds > 0 and not self._retention:
            sweeping = retention.sweep_forever(self.settings.sweep_interval_seconds)
            self._retention.append(asyncio.get_running_loop().create_task(sweeping))

    async def aclose(self, routes: Iterable[Route]) -> None:
        """Flush telemetry, then the traces of ``routes`` (masked routes trace through
        LangSmith clients of their own), then close the audit trail and the cluster."""
        self.telemetry.loop_lag.stop()
        for task in self._retention:
            task.cancel()
        await asyncio.gather(*self._retention, return_exceptions=True)
        self._retention.clear()
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
    """The action ledger beside the audit records — in the audit store's own database (one
    engine opens it) — else in memory."""
    if audit is None:
        return MemoryLedger()
    return SqlLedger(audit.store.database)


def _orphan_ended(audit: AuditTrail | None, telemetry: Telemetry) -> Callable[[EndedOrphan], None]:
    def ended(orphan: EndedOrphan) -> None:
        """A run of a replica that died, ended by this replica's sweeper: counted and
        audited here, since its own replica never will."""
        telemetry.orphan_ended(orphan.run)
        if audit is not None:
            audit.submit(orphan.run, orphan.input)

    return ended
