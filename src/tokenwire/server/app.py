"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.applications import Starlette

from tokenwire.audit.trail import audit_from_settings
from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import Credentials
from tokenwire.security.middleware import AuthMiddleware
from tokenwire.server.actions_api import create_actions_router
from tokenwire.server.api import START_PATH, create_router, start_run_endpoint
from tokenwire.server.arrival import RequestArrival
from tokenwire.server.audit_api import create_audit_router
from tokenwire.server.console_api import create_console_router
from tokenwire.server.cors import install_cors
from tokenwire.server.direct_route import FastPath
from tokenwire.server.metrics_api import create_metrics_router
from tokenwire.server.protocols_api import create_protocol_routers
from tokenwire.server.request_body import BodyTooLarge, RequestBodyLimit, too_large_handler
from tokenwire.server.rollouts_api import StickyHeaders, create_rollouts_router
from tokenwire.server.threads_api import create_threads_router
from tokenwire.server.trace_context import TraceContext
from tokenwire.server.ui_api import UiFiles, create_ui_router

__all__ = ["create_app", "install_auth"]

log = logging.getLogger("tokenwire")


def create_app(
    routes: Gateway | Iterable[Route],
    settings: Settings | None = None,
    *,
    credentials: Credentials | None = None,
) -> FastAPI:
    """A FastAPI app serving ``routes`` (or an existing ``Gateway``) on the native API
    and every protocol front-end (OpenAI, LangServe, AI SDK, WebSocket, LangGraph server API).

    Given routes, it builds their gateway from ``settings`` and ``credentials``, with the
    audit trail the settings ask for. A gateway handed in is served as it was built: its
    settings, credentials and hooks are its own (``Gateway(routes, settings,
    credentials=...)``), and the app changes nothing of it.

    To add tokenwire to an app of your own instead, mount ``create_router(gateway)`` (and
    the routers of ``create_protocol_routers(gateway)``), enter ``gateway.lifespan()`` in
    your app's lifespan and call :func:`install_auth` — without it the routes refuse every
    request (401) unless the gateway's settings say ``auth = "none"``.
    """
    if isinstance(routes, Gateway):
        if settings is not None or credentials is not None:
            raise TypeError(
                "create_app(gateway) serves the gateway as it was built: pass settings and "
                "credentials to Gateway(routes, settings, credentials=...)"
            )
        gateway = routes
    else:
        settings = settings or Settings()
        audit = audit_from_settings(settings)
        gateway = Gateway(routes, settings, audit=audit, credentials=credentials)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway.lifespan():
            yield

    app = FastAPI(title="tokenwire", version=_version(), lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(create_router(gateway))
    app.include_router(create_metrics_router(gateway))
    app.include_router(create_audit_router(gateway))
    app.include_router(create_threads_router(gateway))
    app.include_router(create_actions_router(gateway))
    app.include_router(create_rollouts_router(gateway))
    for router in create_protocol_routers(gateway):
        app.include_router(router)
    app.include_router(create_console_router(gateway))
    app.include_router(create_ui_router(gateway))
    app.mount("/ui", UiFiles(), name="ui")
    app.add_middleware(FastPath, path=START_PATH, endpoint=start_run_endpoint(gateway))
    # Outside the fast path: a streaming start continues the caller's trace too.
    app.add_middleware(TraceContext)
    app.add_middleware(StickyHeaders)  # sticky = "header:<name>" reads the request's
    # Outside the fast path, so streaming starts are bounded too.
    app.add_middleware(
        RequestBodyLimit,
        max_bytes=gateway.settings.max_request_bytes,
        on_client_gone=gateway.telemetry.metrics.client_disconnects.inc,
    )
    app.add_exception_handler(BodyTooLarge, too_large_handler)
    install_auth(app, gateway)  # so auth comes first, after CORS
    # Outside auth: a browser's preflight carries no credentials, and a refusal (401, 429)
    # needs CORS headers too, or the page cannot read why.
    install_cors(app, gateway.settings.cors_origins)
    # Outermost: the request's arrival is what TTFT counts from, auth's time included.
    app.add_middleware(RequestArrival, clock=gateway.telemetry.clock)
    return app


def install_auth(app: Starlette, gateway: Gateway) -> None:
    """Authenticate every request to ``app`` with ``gateway``'s credentials (API keys,
    JWTs), check roles, run ownership and the keys' request rates — what ``create_app``
    does; the keys' limits on runs are the gateway's own. Call it after adding any other
    middleware, so auth comes first. With ``auth = "none"`` it installs nothing.

    >>> gateway = Gateway(routes, credentials=Credentials(keys=[ApiKey("web", key_sha256)]))
    >>> install_auth(app, gateway)
    """
    limits = gateway.key_limits
    if limits is None:  # auth = "none"
        # No middleware at all: requests keep the default principal, which the gateway's
        # routes accept because auth is off.
        log.warning("authentication is OFF (auth = none): anyone can start and read runs")
        return
    if not limits.credentials.configured:
        log.warning("no API keys or JWT configured: every request needing a key is refused")
    app.add_middleware(
        AuthMiddleware,
        registry=gateway.registry,
        credentials=limits.credentials,
        limiter=limits.limiter,
        stream_tokens=gateway.stream_tokens,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokenwire")
    except PackageNotFoundError:
        return "0+unknown"
