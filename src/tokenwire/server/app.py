"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.api import create_router
from tokenwire.settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("tokenwire")


def create_app(
    routes: Gateway | Iterable[Route], settings: Settings | None = None
) -> FastAPI:
    """A FastAPI app serving ``routes`` (or an existing ``Gateway``) on the native API.

    To add tokenwire to an app of your own instead, mount ``create_router(gateway)`` and
    enter ``gateway.lifespan()`` in your app's lifespan.
    """
    gateway = routes if isinstance(routes, Gateway) else Gateway(routes, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway.lifespan():
            yield

    app = FastAPI(title="tokenwire", version=_version(), lifespan=lifespan)
    app.state.gateway = gateway
    app.include_router(create_router(gateway))
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokenwire")
    except PackageNotFoundError:
        return "0+unknown"
