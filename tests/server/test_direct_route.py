"""``DirectRoute`` takes its shortcut only when it can tell that no dependency would be
skipped: if FastAPI no longer exposes how an include passes its dependencies, the route is
served the ordinary way and the dependencies run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tokenwire.server import direct_route
from tokenwire.server.direct_route import DirectRoute


async def _endpoint(request: Request) -> Response:
    return JSONResponse({"served": True})


def _deny() -> None:
    raise HTTPException(401, "denied by the app's dependency")


def _app() -> FastAPI:
    router = APIRouter()
    router.add_api_route("/direct", _endpoint, methods=["GET"], route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(_deny)])
    return app


def test_a_dependency_of_the_include_runs() -> None:
    with TestClient(_app()) as client:
        assert client.get("/direct").status_code == 401


def test_without_fastapis_include_context_the_route_is_served_the_ordinary_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if FastAPI renamed its private context variable: tokenwire's view of
    # ``fastapi.routing`` lacks it (FastAPI's own code keeps working), so tokenwire cannot see
    # the include's dependencies any more and must not skip them.
    monkeypatch.setattr(direct_route, "fastapi_routing", SimpleNamespace())
    with TestClient(_app()) as client:
        assert client.get("/direct").status_code == 401


def test_without_dependencies_the_endpoint_is_called_directly() -> None:
    router = APIRouter()
    router.add_api_route("/direct", _endpoint, methods=["GET"], route_class_override=DirectRoute)
    route = router.routes[0]
    assert isinstance(route, DirectRoute)
    assert route.get_route_handler() is _endpoint
