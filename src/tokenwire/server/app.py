"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.applications import Starlette

from tokenwire.audit.trail import audit_from_settings
from tokenwire.gateway import Gateway
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.security.admission import RunAdmission
from tokenwire.security.credentials import Credentials
from tokenwire.security.limits import RateLimiter
from tokenwire.security.middleware import AuthMiddleware
from tokenwire.security.quotas import KeyQuotas
from tokenwire.security.slots import LocalSlots, SharedSlots, StreamSlots
from tokenwire.server.api import START_PATH, create_router, start_run_endpoint
from tokenwire.server.audit_api import create_audit_router
from tokenwire.server.console_api import create_console_router
from tokenwire.server.direct_route import FastPath
from tokenwire.server.metrics_api import create_metrics_router
from tokenwire.server.protocols_api import create_protocol_routers
from tokenwire.server.request_body import BodyTooLarge, RequestBodyLimit, too_large_handler
from tokenwire.server.ui_api import UiFiles, create_ui_router
from tokenwire.settings import Settings

__all__ = ["create_app", "install_auth"]

log = logging.getLogger("tokenwire")


def create_app(
    routes: Gateway | Iterable[Route],
    settings: Settings | None = None,
    *,
    credentials: Credentials | None = None,
) -> FastAPI:
    """A FastAPI app serving ``routes`` (or an existing ``Gateway``) on the native API
    and every protocol front-end (OpenAI, LangServe, AI SDK, WebSocket).

    To add tokenwire to an app of your own instead, mount ``create_router(gateway)`` (and
    the routers of ``create_protocol_routers(gateway)``), enter ``gateway.lifespan()`` in
    your app's lifespan and call :func:`install_auth` — without it the routes refuse every
    request (401) unless the gateway's settings say ``auth = "none"``.
    """
    if isinstance(routes, Gateway):
        gateway = routes
    else:
        settings = settings or Settings()
        gateway = Gateway(routes, settings, audit=audit_from_settings(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway.lifespan():
            yield

    app = FastAPI(title="tokenwire", version=_version(), lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(create_router(gateway))
    app.include_router(create_metrics_router(gateway))
    app.include_router(create_audit_router(gateway))
    for router in create_protocol_routers(gateway):
        app.include_router(router)
    app.include_router(create_console_router(gateway))
    app.include_router(create_ui_router(gateway))
    app.mount("/ui", UiFiles(), name="ui")
    app.add_middleware(FastPath, path=START_PATH, endpoint=start_run_endpoint(gateway))
    # Outside the fast path, so streaming starts are bounded too.
    app.add_middleware(
        RequestBodyLimit,
        max_bytes=gateway.settings.max_request_bytes,
        on_client_gone=gateway.telemetry.metrics.client_disconnects.inc,
    )
    app.add_exception_handler(BodyTooLarge, too_large_handler)
    install_auth(app, gateway, credentials)  # added last: outermost, so auth comes first
    return app


def install_auth(app: Starlette, gateway: Gateway, credentials: Credentials | None = None) -> None:
    """Authenticate every request to ``app`` with ``credentials`` (API keys, JWTs), check
    roles, run ownership and per-key limits, and charge the keys' quotas for ``gateway``'s
    runs — what ``create_app`` does. Call it after adding any other middleware, so auth
    comes first. With ``auth = "none"`` it installs nothing.

    >>> install_auth(app, gateway, Credentials(keys=[ApiKey("web", key_sha256)]))
    """
    if gateway.settings.auth == "none":
        # No middleware at all: requests keep the default principal, which the gateway's
        # routes accept because auth is off.
        log.warning("authentication is OFF (auth = none): anyone can start and read runs")
        return
    credentials = credentials or Credentials()
    if not credentials.configured:
        log.warning("no API keys or JWT configured: every request needing a key is refused")
    settings = gateway.settings
    # With Redis, limits and quotas count for every replica, over the gateway's connections.
    shared = gateway.cluster.client if gateway.cluster is not None else None
    limiter = RateLimiter(shared, prefix=settings.redis_prefix)
    quotas = KeyQuotas(redis=shared, prefix=settings.redis_prefix)
    app.add_middleware(AuthMiddleware, gateway=gateway, credentials=credentials, limiter=limiter)
    slots: StreamSlots = LocalSlots(gateway.registry)
    if gateway.cluster is not None:  # a dead replica's slots free as it stops counting alive
        slots = SharedSlots(gateway.cluster.broker, lease_seconds=settings.replica_ttl_seconds)
    gateway.admission = RunAdmission(credentials, slots, limiter, quotas)

    def key_budget(alias: str) -> RunBudget | None:
        key = credentials.key(alias)
        return None if key is None else quotas.run_budget(key)

    def charge(run: Run) -> None:
        key = credentials.key(run.owner) if run.owner else None
        if key is None:
            return
        usage = run.summary.get("usage") or {}
        tokens = int(usage.get("input_tokens", 0)) + int(usage.get("output_tokens", 0))
        charging = asyncio.get_running_loop().create_task(limiter.consume_tokens(key, tokens))
        charges.add(charging)
        charging.add_done_callback(_charged)
        quotas.charge(key, tokens, usage.get("cost_usd"))

    charges: set[asyncio.Task[None]] = set()

    def _charged(task: asyncio.Task[None]) -> None:
        charges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("charging tokens to a rate limit failed: %r", task.exception())

    gateway.key_budget = key_budget
    gateway.run_end_hooks.append(charge)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokenwire")
    except PackageNotFoundError:
        return "0+unknown"
