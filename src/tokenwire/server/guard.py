"""Routes that fail closed when nothing authenticated the request.

The auth middleware (``create_app``, or :func:`tokenwire.server.app.install_auth` in an app
of one's own) admits each request and sets its principal. A gateway's routes mounted
without it would otherwise serve everyone: every route built here refuses (401) a request
still carrying the default, role-less principal — unless the gateway's settings say
``auth = "none"``. The probes, metrics and static UI (``access.PUBLIC``) stay open.

The check is a wrapper around each route's handler, not a FastAPI dependency: a dependency
would cost every request its solving and take the start route off its direct path.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from tokenwire.security.access import PUBLIC
from tokenwire.security.principal import UNAUTHENTICATED, current_principal
from tokenwire.server.problems import problem

if TYPE_CHECKING:
    from tokenwire.gateway import Gateway

__all__ = ["NOT_INSTALLED", "guarded", "unauthenticated"]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

NOT_INSTALLED = (
    "this gateway needs authentication, and none is installed in this app: call "
    "tokenwire.install_auth(app, gateway), or set Settings(auth='none') to "
    "serve without it (development only)"
)


def unauthenticated(gateway: Gateway) -> bool:
    """Whether the request being served must be refused: nothing authenticated it, and
    ``gateway`` requires authentication."""
    return current_principal.get() is UNAUTHENTICATED and gateway.settings.auth != "none"


def guarded(route_class: type[APIRoute], gateway: Gateway) -> type[APIRoute]:
    """``route_class`` whose routes (but public ones) refuse unauthenticated requests."""

    def get_route_handler(self: APIRoute) -> Handler:
        handler = route_class.get_route_handler(self)
        if PUBLIC.match(self.path):
            return handler

        async def guard(request: Request) -> Response:
            if unauthenticated(gateway):
                return problem(
                    401, "Unauthorized", NOT_INSTALLED, headers={"WWW-Authenticate": "Bearer"}
                )
            return await handler(request)

        return guard

    methods = {"get_route_handler": get_route_handler}
    return cast("type[APIRoute]", type(f"Guarded{route_class.__name__}", (route_class,), methods))
