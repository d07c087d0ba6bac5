"""The gateway: routes, runs and their logs — what every protocol front-end talks to.

A facade over what it is built from (:mod:`.services`): a start passes the admission gate
(:mod:`.admission`) and is set going by the launcher (:mod:`.launcher`); a lookup answers
only runs the caller may see; the lifespan sweeps expired runs and ends live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from time import perf_counter
from typing import Any

from tokenwire.audit.trail import AuditTrail
from tokenwire.broker.base import Broker
from tokenwire.config import Settings
from tokenwire.errors import UnknownRoute
from tokenwire.gateway.admission import AdmissionGate, Ticket
from tokenwire.gateway.hooks import Hooks
from tokenwire.gateway.launcher import RunLauncher, route_table
from tokenwire.gateway.services import Services
from tokenwire.gateway.threads import ThreadGate
from tokenwire.routes import DisconnectPolicy, Route
from tokenwire.runs.failures import SHUTDOWN_REASON
from tokenwire.runs.run import Run
from tokenwire.runtime import freeze_startup_heap
from tokenwire.security.credentials import Credentials
from tokenwire.security.key_limits import KeyLimits
from tokenwire.security.principal import current_principal
from tokenwire.telemetry.pipeline import Exporter
from tokenwire.threads import LocalClaims, ThreadRequest
from tokenwire.threads.request import split_thread
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock

__all__ = ["Gateway"]

log = logging.getLogger("tokenwire")


class Gateway:
    """Starts runs of named routes and keeps them retrievable.

    >>> gateway = Gateway([Route("chat", ChatOpenAI())], credentials=Credentials(keys))
    >>> async with gateway.lifespan():
    ...     run, created = await gateway.start_run("chat", "Hello")

    ``credentials``: the API keys (and JWT settings) callers authenticate with; their
    per-key limits apply to every start (``create_app`` and ``install_auth`` authenticate
    requests with them). ``hooks``: run-end steps of your own, or an admission and a key
    budget in place of the keys' limits (``auth = "none"``).
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
        credentials: Credentials | None = None,
        hooks: Hooks | None = None,
        clock: Clock = perf_counter,
    ) -> None:
        self.settings = settings or Settings()
        self.routes = route_table(routes)
        services = Services.from_settings(
            self.settings, broker, prices=prices, exporters=exporters, audit=audit, clock=clock
        )
        self._services = services  # the attributes below are its parts (see Services)
        self.broker = services.broker
        self.registry = services.registry
        self.cluster = services.cluster
        self.telemetry = services.telemetry
        self.reliability = services.reliability
        self.audit = services.audit
        #: The keys' limits, and the keys the auth middleware checks; None with auth off.
        self.key_limits: KeyLimits | None = None
        if self.settings.auth != "none":
            self.key_limits = services.key_limits(credentials or Credentials())
        hooks = hooks or Hooks()
        self.hooks = hooks if self.key_limits is None else Hooks.of(self.key_limits).then(hooks)
        self._launcher = RunLauncher(self.routes.values(), services, self.hooks)
        self._gate = AdmissionGate(
            services.registry, services.cluster, self.hooks.admission, self.find_run
        )
        claims = services.cluster.thread_claims if services.cluster else LocalClaims()
        #: LangGraph threads: the checkpointer, who holds each thread, thread lookups.
        self.threads = ThreadGate(
            self.routes, self.settings, claims, self._any_run, resume=self._resume_expired
        )
        self._sweeper: asyncio.Task[None] | None = None

    def route(self, name: str) -> Route:
        try:
            return self.routes[name]
        except KeyError:
            raise UnknownRoute(name) from None

    async def start_run(
        self,
        route_name: str,
        input: Any,
        *,
        config: dict[str, Any] | None = None,
        on_disconnect: DisconnectPolicy | None = None,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        thread: ThreadRequest | None = None,
    ) -> tuple[Run, bool]:
        """Start a run — or, for an idempotency key already used, return its run.

        Returns ``(run, created)``. Refuses with a :class:`~tokenwire.errors.RunRefused`
        before anything runs: ``UnknownRoute``, ``IdempotencyConflict``, ``RateLimited``
        (the caller's per-key limits), ``InvalidRequest``, ``RegistryFull`` or
        ``ClusterUnavailable``. Keys are the caller's own; with replicas sharing runs the
        same key sent to two replicas starts one run. A replay starts nothing, so no limit
        refuses it. On a ``thread`` (or ``config.configurable.thread_id``) the start also
        passes the thread gate (:mod:`.threads`): ``UnknownThread``, ``ThreadBusy``.
        """
        route = self.route(route_name)
        thread, config = split_thread(thread, config)
        # Decisions, not the command they become: a retry replays, whatever ran since.
        request = input if thread is None else [input, thread.thread_id, thread.command]
        if thread is not None and thread.decisions is not None:
            request.append(thread.decisions)
        async with self._gate.enter(route.name, request, config, idempotency_key) as ticket:
            if ticket.replay is None:
                start = functools.partial(
                    self._launcher.start,
                    route,
                    input,
                    ticket,
                    config=config,
                    on_disconnect=on_disconnect,
                    metadata=metadata,
                )
                ticket.started(await self._start_on(thread, route, input, ticket, start))
        return ticket.outcome

    async def _start_on(
        self,
        thread: ThreadRequest | None,
        route: Route,
        input: Any,
        ticket: Ticket,
        start: Callable[..., Run],
    ) -> Run:
        if thread is None:
            return start()
        async with self.threads.enter(route, thread, input, ticket.run_uuid.hex) as admitted:
            run = start(thread=admitted)
        self.threads.held_by(admitted, run)
        return run

    async def _resume_expired(self, route: str, thread_id: str, command: dict[str, Any]) -> Run:
        thread = ThreadRequest(thread_id, command, multitask="reject")  # never a human's run
        run, _ = await self.start_run(route, None, thread=thread, metadata={"approval": "expired"})
        return run

    async def _any_run(self, run_id: str) -> Run | None:
        """A run by id on any replica, whoever owns it (not for answering callers)."""
        run = self.registry.get(run_id)
        if run is not None or self.cluster is None:
            return run
        return await self.cluster.lookup(run_id)

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
        live = {run.id for run in self.registry.live() if run.owner == owner}
        return len(live) + sum(1 for run_id in shared if self.registry.get(run_id) is None)

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
            sweeping = self.registry.sweep_forever(self.settings.sweep_interval_seconds)
            self._sweeper = asyncio.get_running_loop().create_task(sweeping)
        await self._services.start()
        await self.threads.start()

    async def aclose(self) -> None:
        """Cancel live runs (each still ends with ``run.end``) and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.registry.cancel_all(SHUTDOWN_REASON)
        await asyncio.sleep(0)  # let the cancelled runs' done-callbacks submit their records
        await self.threads.aclose()
        await self._services.aclose(self.routes.values())

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
