"""Two ways to keep FastAPI's per-request machinery off the hottest endpoint.

``DirectRoute``: a FastAPI route whose endpoint takes the ``Request`` itself and nothing
else — documented like any route (parameters and body through ``openapi_extra``), called
without dependency solving, body parsing or response validation.

``FastPath``: ASGI middleware that sends the streaming requests of one such endpoint to it
straight away, past Starlette's router and FastAPI's exit stacks and exception wrappers. A
stream keeps every frame it was called through alive for its whole life: those layers cost
about 9 KB and 0.1 ms per open stream. The same endpoint function serves the documented
route, so both paths answer alike; everything else passes through.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.security.access import app_path

__all__ = ["DirectRoute", "FastPath"]

Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if self.dependencies or self.dependant.dependencies or _included_with_dependencies():
            # Mounted with router- or app-level dependencies (an auth check, say): they must
            # run, so this route is served the ordinary way.
            return super().get_route_handler()
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


def _included_with_dependencies() -> bool:
    """Whether FastAPI is building this handler for an ``include_router(...,
    dependencies=...)`` (FastAPI ≥ 0.16x keeps those in a private context, not on the
    route). Without that context variable (a FastAPI that renamed it) there is no telling:
    then this answers yes, and the route is served the ordinary way — a skipped auth
    dependency would fail open."""
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
    if context_var is None:
        return True
    return bool(getattr(context_var.get(None), "dependencies", None))


class FastPath:
    """``POST <path>`` with ``Accept: text/event-stream`` straight to ``endpoint``.

    ``path`` is a route template (``/v1/routes/{route}/runs``): each ``{name}`` matches one
    path segment and becomes a path parameter, as in Starlette."""

    def __init__(self, app: ASGIApp, *, path: str, endpoint: Endpoint) -> None:
        self.app = app
        self.endpoint = endpoint
        self._path = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _wants_stream(scope):
            match = self._path.fullmatch(app_path(scope))
            if match is not None:
                scope["path_params"] = match.groupdict()
                response = await self.endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _wants_stream(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/event-stream" in value
    return False
