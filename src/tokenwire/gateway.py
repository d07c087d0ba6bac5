"""The gateway: routes, runs and their logs — what every protocol front-end talks to."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from time import perf_counter
from typing import Any, Protocol

from langchain_core.runnables import RunnableConfig

from tokenwire.audit.metrics import AuditCollector
from tokenwire.audit.trail import AuditTrail
from tokenwire.broker.base import Broker
from tokenwire.broker.memory import MemoryBroker
from tokenwire.broker.redis import RedisBroker
from tokenwire.errors import UnknownRoute
from tokenwire.events import EventType
from tokenwire.langchain.adapter import model_name
from tokenwire.langchain.model_setup import prepare_models
from tokenwire.pipeline.audit_input import InputSeal, audited_input
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.masked_logs import masked_context
from tokenwire.pipeline.masking import Masking, shown_input
from tokenwire.reliability.fallbacks import as_fallback
from tokenwire.reliability.stats import Reliability
from tokenwire.routes import DisconnectPolicy, Route
from tokenwire.runs.cluster import Cluster, redis_broker
from tokenwire.runs.execution import execute_run
from tokenwire.runs.failures import SHUTDOWN_REASON
from tokenwire.runs.idempotency import (
    check_fingerprint,
    claim_shared,
    fingerprint,
    normalized,
    scoped,
)
from tokenwire.runs.inputs import prepare_config, prepare_input
from tokenwire.runs.launch import end_unstarted, guarded_sink, priced, route_budget, truncate
from tokenwire.runs.orphans import EndedOrphan
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run
from tokenwire.runtime import freeze_startup_heap
from tokenwire.security.principal import current_principal
from tokenwire.security.slots import Slot
from tokenwire.settings import Settings
from tokenwire.telemetry.collector import Telemetry
from tokenwire.telemetry.metrics import ReliabilityCollector
from tokenwire.telemetry.pipeline import Exporter
from tokenwire.telemetry.pricing import PriceTable

__all__ = ["Gateway"]

log = logging.getLogger("tokenwire")

#: How long shutdown waits for a masked route's LangSmith client to send what it holds.
_TRACE_FLUSH_SECONDS = 5.0


class Admission(Protocol):
    """The caller's per-key limits on starting runs (set by the auth layer)."""

    def admit(self, owner: str) -> Awaitable[Slot]:
        """Raise to refuse; else the concurrency slot the start holds (``hold(run)`` once
        the run started, ``release()`` if it started nothing)."""


class Gateway:
    """Starts runs of named routes and keeps them retrievable.

    >>> gateway = Gateway([Route("chat", ChatOpenAI())])
    >>> run, created = gateway.start_run("chat", "Hello")
    """

    def __init__(
        self,
        routes: Iterable[Route],
        settings: Settings | None = None,
        broker: Broker | None = None,
        *,
        prices: PriceTable | None = None,
        exporters: list[Exporter] | None = None,
        audit: AuditTrail | None = None,
    ) -> None:
        self.settings = settings or Settings()
        #: Records every finished run (``create_app`` and the CLI build it from settings).
        self.audit = audit
        #: What a key may still spend, as a run budget (set by the auth layer; None: no quotas).
        self.key_budget: Callable[[str], RunBudget | None] | None = None
        #: Per-key limits on starting runs (set by the auth layer; None: none).
        self.admission: Admission | None = None
        #: Called with each run once it has ended (after telemetry), e.g. to charge quotas.
        self.run_end_hooks: list[Callable[[Run], None]] = []
        self.routes: dict[str, Route] = {}
        for route in routes:
            if route.name in self.routes:
                raise ValueError(f"duplicate route name {route.name!r}")
            self.routes[route.name] = route
            for runnable in (route.runnable, *(as_fallback(f).runnable for f in route.fallbacks)):
                prepare_models(runnable)
        if broker is None and self.settings.redis_url:
            broker = redis_broker(self.settings)
        self.broker: Broker = broker or MemoryBroker(self.settings.max_events_per_run)
        self.registry = RunRegistry(
            self.broker,
            max_runs=self.settings.max_runs,
            retention_seconds=self.settings.retention_seconds,
        )
        #: With a Redis broker: how this replica shares its runs with the others.
        self.cluster: Cluster | None = None
        if isinstance(self.broker, RedisBroker):
            self.cluster = Cluster(
                self.broker,
                self.registry,
                replica_ttl_seconds=self.settings.replica_ttl_seconds,
                retention_seconds=self.settings.retention_seconds,
                keep_inputs=audit is not None,
                on_orphan_ended=self._orphan_ended,
            )
        #: Encrypts the raw input of runs on routes with ``audit_input = "encrypted"``.
        self._input_seal = _input_seal(self.routes.values(), self.settings)
        self.telemetry = Telemetry(self.settings, prices, exporters)
        #: Circuit breakers and reliability counters (read by telemetry).
        self.reliability = Reliability()
        self.telemetry.metrics.registry.register(ReliabilityCollector(self.reliability))
        if audit is not None:
            self.telemetry.metrics.registry.register(AuditCollector(audit))
        self._sweeper: asyncio.Task[None] | None = None

    def route(self, name: str) -> Route:
        try:
            return self.routes[name]
        except KeyError:
            raise UnknownRoute(name) from None

    def start_run(
        self,
        route_name: str,
        input: Any,
        *,
        config: dict[str, Any] | None = None,
        on_disconnect: DisconnectPolicy | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """Start a run (or, for a known idempotency key, return its run).

        Returns ``(run, created)``. Raises ``UnknownRoute``, ``InvalidRequest``,
        ``IdempotencyConflict`` or ``RegistryFull`` before anything runs. Idempotency keys
        are this process's; :meth:`astart_run` also honours those of other replicas, and
        is the only way to start runs once per-key limits are set (``admission``).
        """
        if self.admission is not None:
            raise RuntimeError("per-key limits apply to run starts: use astart_run")
        return self._start(
            route_name,
            input,
            config=config,
            on_disconnect=on_disconnect,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )

    async def astart_run(
        self,
        route_name: str,
        input: Any,
        *,
        config: dict[str, Any] | None = None,
        on_disconnect: DisconnectPolicy | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[Run, bool]:
        """:meth:`start_run`, with the caller's per-key limits checked (``RateLimited``) and
        an idempotency key claimed in Redis when replicas share runs: the same key sent to
        two replicas starts one run (``SET NX``). A replay of a key starts nothing, so it
        is never refused by a limit."""
        cluster, random, release = self.cluster, None, None
        self.route(route_name)
        key = normalized(idempotency_key)
        if key is not None:
            shared, request = scoped(key), fingerprint(input, config)
            existing = self._replay(route_name, shared, request)
            if existing is not None:
                return existing, False
            if cluster is not None:
                random = os.urandom(32)
                run_id = _run_uuid(random).hex
                claims = cluster.claims
                existing = await claim_shared(claims, self.find_run, route_name, shared, run_id)
                if existing is not None:
                    check_fingerprint(existing, request)
                    return existing, False
                release = functools.partial(claims.release, route_name, shared, run_id)
        slot: Slot | None = None
        try:
            if self.admission is not None:
                slot = await self.admission.admit(current_principal.get().alias)
            run, created = self._start(
                route_name,
                input,
                config=config,
                on_disconnect=on_disconnect,
                metadata=metadata,
                idempotency_key=key,
                random=random,
            )
        except BaseException:  # refused (or cancelled) before it started: the key is free
            if slot is not None:
                slot.release()
            if release is not None:
                await release()
            raise
        if slot is not None:  # the run's until it ends; a replay started nothing
            if created:
                slot.hold(run)
            else:
                slot.release()
        return run, created

    def _start(
        self,
        route_name: str,
        input: Any,
        *,
        config: dict[str, Any] | None,
        on_disconnect: DisconnectPolicy | None,
        metadata: dict[str, Any] | None,
        idempotency_key: str | None,
        random: bytes | None = None,
    ) -> tuple[Run, bool]:
        received_at = perf_counter()
        principal = current_principal.get()
        route = self.route(route_name)
        idempotency_key = normalized(idempotency_key)
        request = fingerprint(input, config) if idempotency_key is not None else None
        if idempotency_key is not None:
            idempotency_key = scoped(idempotency_key)
            existing = self._replay(route_name, idempotency_key, request)
            if existing is not None:
                return existing, False
        value = prepare_input(route.runnable, input)
        run_config = prepare_config(route.runnable, config)
        # One read of the OS's randomness for both ids: a version-4 UUID and a trace id.
        random = random or os.urandom(32)
        run_uuid = _run_uuid(random)
        run_id = run_uuid.hex
        run = Run(
            id=run_id,
            route=route_name,
            log=self.broker.create(run_id),
            on_disconnect=on_disconnect or route.on_disconnect,
            grace_seconds=self.settings.disconnect_grace_seconds,
            trace_id=random[16:].hex(),
            # The caller's key alias is set here, never taken from client metadata.
            metadata={**shown_input(route.masking, metadata or {}), "key_alias": principal.alias},
            owner=principal.alias,
            idempotency_key=idempotency_key,
            fingerprint=request,
        )
        self.registry.add(run)
        self._launch(run, run_uuid, route, value, run_config, received_at)
        if self.cluster is not None:
            # Once launched: other replicas hear only of runs that run (and will end).
            self.cluster.opened(run, input)
        if self.audit is not None:
            self.audit.watch(run, audited_input(route.masking, input, self._input_seal))
        return run, True

    def _replay(self, route_name: str, scoped_key: str, request: str | None) -> Run | None:
        """This replica's run for an idempotency key, if any — raising
        ``IdempotencyConflict`` when the key came with another request."""
        existing = self.registry.by_idempotency_key(route_name, scoped_key)
        if existing is not None:
            check_fingerprint(existing, request)
        return existing

    def _launch(
        self,
        run: Run,
        run_uuid: uuid.UUID,
        route: Route,
        value: Any,
        config: RunnableConfig,
        received_at: float,
    ) -> None:
        """Give the registered run its task. Whatever fails while setting it up, the run
        still gets one: a task that ends it ``failed`` (``internal``), so nothing is left
        registered as running with no one to end it."""
        try:
            body = self._run_body(run, run_uuid, route, value, config, received_at)
        except Exception as exc:
            log.error("run %s could not be started", run.id, exc_info=exc)
            run.recorder = run.recorder or RunRecorder(run.log, started_at=received_at)
            body = end_unstarted(run, run.recorder)
        masking = route.masking
        run.task = asyncio.get_running_loop().create_task(
            body,
            name=f"tokenwire-run-{run.id}",
            # A masked route's run logs masked lines, whoever writes them.
            context=masked_context(masking.text) if masking is not None else None,
        )
        self.telemetry.run_started(route)
        run.task.add_done_callback(lambda _: self._run_ended(run, route))

    def _run_body(
        self,
        run: Run,
        run_uuid: uuid.UUID,
        route: Route,
        value: Any,
        config: RunnableConfig,
        received_at: float,
    ) -> Coroutine[Any, Any, None]:
        run.model = model_name(route.runnable)
        run.log.append(
            EventType.RUN_START,
            {
                "run_id": run.id,
                "route": route.name,
                "trace_id": run.trace_id,
                "cohort": "stream",
                "model": run.model,
            },
        )
        masking = route.masking
        recorder = self.telemetry.recorder(
            run.log,
            value,
            received_at,
            budget=self._run_budget(run, route),
            on_limit=lambda reason: truncate(run, reason),
            mask_tool_io=masking.on("tool_io") if masking is not None else None,
        )
        sink = guarded_sink(run, route, recorder)
        # The LangChain root run id is the tokenwire run id: traces and runs line up.
        config = config.copy()
        config["run_id"] = run_uuid
        config["metadata"] = {**config.get("metadata", {}), "tokenwire_run_id": run.id}
        if masking is not None:
            config = masking.tracing.config(config)
        run.recorder = recorder
        return execute_run(
            run,
            route,
            value,
            config,
            recorder,
            expose_errors=self.settings.expose_errors,
            reliability=self.reliability,
            sink=sink,
        )

    def _run_budget(self, run: Run, route: Route) -> RunBudget | None:
        """The route's budget, tightened by what the caller's key may still spend."""
        key_budget = self.key_budget(run.owner) if self.key_budget and run.owner else None
        budget = route_budget(route)
        if budget is None:
            return priced(key_budget, route)
        return budget.tighter(key_budget)

    def _run_ended(self, run: Run, route: Route) -> None:
        """Release what the run held. Each step on its own: one that raises (a metric, a
        Redis write) must not keep the others — a slot, a quota charge — from happening."""
        steps: list[Callable[[], None]] = [lambda: self.telemetry.run_finished(run, route)]
        if self.cluster is not None:
            steps.append(functools.partial(self.cluster.closed, run))
        steps += [functools.partial(hook, run) for hook in self.run_end_hooks]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("run %s: a run-end step failed", run.id)

    def _orphan_ended(self, ended: EndedOrphan) -> None:
        """A run of a replica that died, ended by this replica's sweeper: audit it here."""
        if self.audit is not None:
            self.audit.submit(ended.run, ended.input)

    def get_run(self, run_id: str) -> Run | None:
        """The run, if it exists and the current caller may see it: a client only sees its
        own runs (every protocol front-end looks runs up here, so none can leak another's)."""
        run = self.registry.get(run_id)
        if run is None or not current_principal.get().owns(run.owner):
            return None
        return run

    async def find_run(self, run_id: str) -> Run | None:
        """:meth:`get_run`, or with Redis the run wherever it runs (a ``RemoteRun``).
        Raises ``ClusterUnavailable`` (a 503) while Redis cannot be reached."""
        run = self.get_run(run_id)
        if run is not None or self.cluster is None:
            return run
        remote = await self.cluster.lookup(run_id)
        if remote is None or not current_principal.get().owns(remote.owner):
            return None
        return remote

    async def live_runs_of(self, owner: str) -> int:
        """How many runs ``owner`` has live — on every replica, with Redis. This replica's
        own runs are counted from its registry, which is never behind (Redis may lag by a
        flush), and only after the Redis answer, so the count is current when returned."""
        shared = await self.cluster.live_runs_of(owner) if self.cluster is not None else set()
        registry = self.registry
        live = {run.id for run in registry.live() if run.owner == owner}
        return len(live) + sum(1 for run_id in shared if registry.get(run_id) is None)

    # -- lifecycle ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sweep expired runs while open; cancel live runs (each ends with ``run.end``)
        on exit. Usable directly as ``FastAPI(lifespan=lambda app: gateway.lifespan())``."""
        await self.start()
        try:
            yield
        finally:
            await self.aclose()

    async def start(self) -> None:
        if self.settings.gc_freeze:
            freeze_startup_heap()
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())
        self.telemetry.pipeline.start()
        if self.audit is not None:
            await self.audit.start()
        if self.cluster is not None:
            await self.cluster.start()

    async def aclose(self) -> None:
        """Cancel live runs (each still ends with ``run.end``) and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.registry.cancel_all(SHUTDOWN_REASON)
        await asyncio.sleep(0)  # let the cancelled runs' done-callbacks submit their records
        await self.telemetry.pipeline.aclose()
        for route in self.routes.values():  # masked routes trace through clients of their own
            if route.masking is not None:
                flushed = asyncio.to_thread(route.masking.tracing.flush)
                with contextlib.suppress(TimeoutError):  # LangSmith away: do not hang here
                    await asyncio.wait_for(flushed, _TRACE_FLUSH_SECONDS)
        if self.audit is not None:
            await self.audit.aclose()
        if self.cluster is not None:
            await self.cluster.aclose()

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

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            self.registry.sweep()


def _input_seal(routes: Iterable[Route], settings: Settings) -> InputSeal | None:
    """The key's seal, when set — and required by a route that audits its input encrypted."""
    if settings.audit_input_key:
        return InputSeal(settings.audit_input_key)
    for route in routes:
        masking: Masking | None = route.masking
        if masking is not None and masking.covers("input") and masking.audit_input == "encrypted":
            raise ValueError(
                f'route {route.name!r} has audit_input = "encrypted" but no audit_input_key '
                "is set (TOKENWIRE_AUDIT_INPUT_KEY)"
            )
    return None


def _run_uuid(random: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=random[:16], version=4)
