"""The gateway: routes, runs and their logs — what every protocol front-end talks to."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import orjson
from langchain_core.runnables import RunnableConfig

from tokenwire.broker.base import Broker
from tokenwire.broker.memory import MemoryBroker
from tokenwire.events import EventType
from tokenwire.routes import DisconnectPolicy, Route
from tokenwire.runs.execution import execute_run
from tokenwire.runs.inputs import prepare_config, prepare_input
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run
from tokenwire.settings import Settings

__all__ = ["Gateway", "IdempotencyConflict", "UnknownRoute"]

log = logging.getLogger("tokenwire")


class UnknownRoute(LookupError):
    pass


class IdempotencyConflict(ValueError):
    """An ``Idempotency-Key`` was reused with a different request."""


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
    ) -> None:
        self.settings = settings or Settings()
        self.routes: dict[str, Route] = {}
        for route in routes:
            if route.name in self.routes:
                raise ValueError(f"duplicate route name {route.name!r}")
            self.routes[route.name] = route
        self.broker: Broker = broker or MemoryBroker(self.settings.max_events_per_run)
        self.registry = RunRegistry(
            self.broker,
            max_runs=self.settings.max_runs,
            retention_seconds=self.settings.retention_seconds,
        )
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
        ``IdempotencyConflict`` or ``RegistryFull`` before anything runs.
        """
        route = self.route(route_name)
        fingerprint = _fingerprint(input, config) if idempotency_key else None
        if idempotency_key is not None:
            existing = self.registry.by_idempotency_key(route_name, idempotency_key)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise IdempotencyConflict(
                        "Idempotency-Key was already used with a different request body"
                    )
                return existing, False
        value = prepare_input(route.runnable, input)
        run_config = prepare_config(route.runnable, config)
        run_id = uuid.uuid4().hex
        run = Run(
            id=run_id,
            route=route_name,
            log=self.broker.create(run_id),
            on_disconnect=on_disconnect or route.on_disconnect,
            grace_seconds=self.settings.disconnect_grace_seconds,
            trace_id=secrets.token_hex(16),
            metadata=metadata or {},
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        self.registry.add(run)
        self._launch(run, route, value, run_config)
        return run, True

    def _launch(self, run: Run, route: Route, value: Any, config: RunnableConfig) -> None:
        run.log.append(
            EventType.RUN_START,
            {
                "run_id": run.id,
                "route": route.name,
                "trace_id": run.trace_id,
                "cohort": "stream",
                "model": _model_name(route),
            },
        )
        recorder = RunRecorder(run.log)
        # The LangChain root run id is the tokenwire run id: traces and runs line up.
        config = config.copy()
        config["run_id"] = uuid.UUID(run.id)
        config["metadata"] = {**config.get("metadata", {}), "tokenwire_run_id": run.id}
        run.recorder = recorder
        run.task = asyncio.get_running_loop().create_task(
            execute_run(
                run, route, value, config, recorder, expose_errors=self.settings.expose_errors
            ),
            name=f"tokenwire-run-{run.id}",
        )

    def get_run(self, run_id: str) -> Run | None:
        return self.registry.get(run_id)

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
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def aclose(self) -> None:
        """Cancel live runs (each still ends with ``run.end``) and stop the sweeper."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.registry.cancel_all("gateway shutting down")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            self.registry.sweep()


def _fingerprint(input: Any, config: dict[str, Any] | None) -> str:
    body = orjson.dumps([input, config], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


def _model_name(route: Route) -> str | None:
    runnable: Any = route.runnable
    bound = getattr(runnable, "bound", None)
    for candidate in (runnable, bound):
        for attr in ("model_name", "model"):
            value = getattr(candidate, attr, None)
            if isinstance(value, str):
                return value
    return None

