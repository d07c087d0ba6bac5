"""``/v1/rollouts``: each route's rollout — variants, shares, states, window figures — and
the operator's actions on it (``promote``, ``rollback``, ``pause``, ``resume``: admins).

Also the middleware that hands a request's headers to the rollout's sticky assignment.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.gateway import Gateway
from tokenwire.rollout.assignment import request_headers
from tokenwire.rollout.controller import UnknownVariant
from tokenwire.rollout.decisions import ACTIONS
from tokenwire.security.principal import current_principal
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem
from tokenwire.server.validation_api import ProblemRoute

__all__ = ["StickyHeaders", "create_rollouts_router"]


def create_rollouts_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(route_class=guarded(ProblemRoute, gateway))
    rollouts = gateway.rollouts.rollouts

    @router.get("/v1/rollouts", responses={403: {}})
    async def list_rollouts() -> Response:
        views = [await rollouts.view(route) for route in sorted(rollouts.policies)]
        return JSONResponse({"rollouts": views})

    @router.get("/v1/rollouts/{route}", responses={403: {}, 404: {}})
    async def show_rollout(route: str) -> Response:
        if route not in rollouts.policies:
            return _no_rollout(route)
        return JSONResponse(await rollouts.view(route))

    @router.post("/v1/rollouts/{route}/{action}", responses={403: {}, 404: {}})
    async def change_rollout(route: str, action: str, variant: str | None = None) -> Response:
        if route not in rollouts.policies:
            return _no_rollout(route)
        if action not in ACTIONS:
            return problem(404, "Not Found", f"no rollout action {action!r}: {list(ACTIONS)}")
        actor = current_principal.get().alias
        try:
            changes = await rollouts.act(route, action, variant, actor)
        except UnknownVariant as exc:
            return problem(404, "Not Found", f"route {route!r}: {exc.args[0]}")
        body: dict[str, Any] = await rollouts.view(route)
        body["transitions"] = [change.as_json() for change in changes]
        return JSONResponse(body)

    return router


def _no_rollout(route: str) -> Response:
    return problem(404, "Not Found", f"route {route!r} has no rollout")


class StickyHeaders:
    """Pure ASGI: the request's headers become ``request_headers`` for the runs it starts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = request_headers.set(scope["headers"])
        try:
            await self.app(scope, receive, send)
        finally:
            request_headers.reset(token)
