"""The gateway: routes, runs and their logs — what every protocol front-end talks to.

A facade over what it is built from (:mod:`.services`): a start passes the admission gate
(:mod:`.admission`) and is set going by the launcher (:mod:`.launcher`); a lookup answers
only runs the caller may see; the lifespan sweeps expired runs and ends live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from time import perf_counter
from typing import Any

from tokenwire.audit.trail import AuditTrail
from tokenwire.broker.base import Broker
from tokenwire.config import Settings
from tokenwire.errors import UnknownRoute
from tokenwire.gateway.admission import AdmissionGate
from tokenwire.gateway.feedback import Feedback, FeedbackIntake
from tokenwire.gateway.hooks import Hooks
from tokenwire.gateway.launcher import RunLauncher, route_table
from tokenwire.gateway.rollouts import RouteRollouts
from tokenwire.gateway.services import Services
from tokenwire.gateway.threads import ThreadGate
from tokenwire.routes import DisconnectPolicy, Route, RunOptions
from tokenwire.runs.failures import SHUTDOWN_REASON
from tokenwire.runs.run import Run
from tokenwire.runtime import freeze_startup_heap
from tokenwire.security.credentials import Credentials
from tokenwire.security.key_limits import KeyLimits
from tokenwire.security.principal import ANONYMOUS, current_principal
from tokenwire.security.stream_tokens import StreamTokens
from tokenwire.telemetry.pipeline import Exporter
from tokenwire.threads import ThreadRequest
from tokenwire.threads.request import split_thread, start_request
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock

__all__ = ["Gateway"]


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
        rollout_clock: Callable[[], float] = time.time,
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
        self.actions = services.actions  # the action ledger (``tokenwire.actions``)
        #: The keys' limits, and the keys the auth middleware checks; None with auth off.
        self.key_limits: KeyLimits | None = None
        if self.settings.auth != "none":
            self.key_limits = services.key_limits(credentials or Credentials())
        #: Signed grants to read one run's stream (``EventSource`` cannot send a key).
        self.stream_tokens = StreamTokens.from_settings(
            self.settings, self.key_limits.credentials if self.key_limits else Credentials()
        )
        hooks = hooks or Hooks()
        self.hooks = hooks if self.key_limits is None else Hooks.of(self.key_limits).then(hooks)
        #: The routes' rollouts (``tokenwire.rollout``): state, analysis, actions, feedback
        #: (``record_feedback``). ``rollout_clock``: epoch seconds the analysis runs on.
        self.rollouts = RouteRollouts(
            self.routes.values(),
            cluster=services.cluster,
            metrics=services.telemetry.metrics,
            audit=services.audit,
            clock=rollout_clock,
        )
        self._launcher = RunLauncher(self.routes.values(), services, self.hooks, self.rollouts)
        self.telemetry.initialise(self.routes.values(), _key_labels(self.settings, credentials))
        self._gate = AdmissionGate(
            services.registry, services.cluster, self.hooks.admission, self.find_run
        )
        #: LangGraph threads: the checkpointer, who holds each thread, thread lookups.
        self.threads = ThreadGate(self.routes, services, resume=self._resume_expired)
        observers = (*self.hooks.feedback, self._rollout_feedback)
        self._feedback = FeedbackIntake(self.routes, self.telemetry.metrics, self.audit, observers)
        self._sweeper: asyncio.Task[None] | None = None

    def _rollout_feedback(self, feedback: Feedback) -> None:
        """A user's score joins the rollout analysis of the run's variant. Only a run this
        replica knows says its variant: another's score is left out rather than credited
        to the wrong variant."""
        run = self.registry.get(feedback.run_id)
        if run is not None:
            self.rollouts.record_feedback(run, feedback.score)

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
        protocol: str = "native",
        options: RunOptions | None = None,
    ) -> tuple[Run, bool]:
        """Start a run — or, for an idempotency key already used, return its run.

        Returns ``(run, created)``. Refuses with a :class:`~tokenwire.errors.RunRefused`
        before anything runs: ``UnknownRoute``, ``IdempotencyConflict``, ``RateLimited``
        (the caller's per-key limits), ``InvalidRequest``, ``RegistryFull`` or
        ``ClusterUnavailable``. Keys are the caller's own; with replicas sharing runs the
        same key sent to two replicas starts one run. A replay starts nothing, so no limit
        refuses it. On a ``thread`` (or ``config.configurable.thread_id``) the start also
        passes the thread gate (:mod:`.threads`): ``UnknownThread``, ``ThreadBusy``.
        ``protocol``: the wire protocol the start came by, as telemetry labels the run.
        ``options`` change the route for this run only (:class:`~tokenwire.routes.RunOptions`).
        """
        route = self.route(route_name)
        thread, config = split_thread(thread, config)
        request = start_request(input, thread)
        if options is not None and options.identity is not None:
            request = [request, options.identity]
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
                    protocol=protocol,
                    options=options,
                )
                if thread is None:
                    ticket.started(start())
                else:
                    run_id = ticket.run_uuid.hex
                    ticket.started(
                        await self.threads.start_run(route, thread, input, run_id, start)
                    )
        return ticket.outcome

    async def _resume_expired(self, route: str, thread_id: str, command: dict[str, Any]) -> Run:
        thread = ThreadRequest(thread_id, command, multitask="reject")  # never a human's run
        run, _ = await self.start_run(route, None, thread=thread, metadata={"approval": "expired"})
        return run

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
        run = await self._services.any_run(run_id)
        return run if run is not None and current_principal.get().owns(run.owner) else None

    def give_feedback(self, run: Run, score: Any, comment: Any = None) -> Feedback:
        """A user's ``score`` (0 to 1) of ``run``, with an optional ``comment``: audited
        beside the run's record, measured (``tokenwire_feedback_score``), sent to LangSmith
        when tracing is on and handed to ``Hooks.feedback`` (:mod:`.feedback`). Only the
        key that started the run may (``NotRunOwner``); ``InvalidFeedback`` for a score
        outside 0..1 or a comment that is not a short string."""
        return self._feedback.give(run, score, comment)

    async def live_runs_of(self, owner: str) -> int:
        """How many runs ``owner`` has live — on every replica, with Redis."""
        return await self._services.live_runs_of(owner)

    # -- lifecycle ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Sweep expired runs while open; cancel live runs (each ends with ``run.end``)
        on exit. Usable directly as ``FastAPI(lifespan=lambda app: gateway.lifespan())``.
        A start that fails half-way (a checkpoint database away) closes what it opened."""
        try:
            await self.start()
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
        await self.rollouts.start()
        await self.threads.start()

    async def aclose(self) -> None:
        """Cancel live runs (each still ends with ``run.end``) and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.registry.cancel_all(SHUTDOWN_REASON)
        await self._launcher.shadows.aclose()
        await asyncio.sleep(0)  # let the cancelled runs' done-callbacks submit their records
        await self.rollouts.aclose()
        await self.threads.aclose()
        await self._feedback.aclose()
        await self._services.aclose(self.routes.values())

    async def drain(self, grace_seconds: float) -> None:
        """Let live runs finish for up to ``grace_seconds``, then end the rest with
        ``incomplete_stream`` (and ``run.end``), so their clients can rejoin elsewhere."""
        await self._services.drain(grace_seconds)


def _key_labels(settings: Settings, credentials: Credentials | None) -> frozenset[str]:
    """The caller labels the configuration knows, for metrics to start at zero:
    ``anonymous`` without auth or credentials (runs started in code), else the keys'."""
    if settings.auth == "none" or credentials is None or not credentials.configured:
        return frozenset({ANONYMOUS.alias})
    return credentials.labels()
