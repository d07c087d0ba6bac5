"""The LangGraph server API (the subset ``langgraph-sdk`` uses) as another protocol front
end over the gateway's runs: ``/assistants``, ``/threads``, ``/runs`` at the root.

    app.include_router(create_langgraph_router(gateway))

Assistants and threads: :mod:`.threads`; runs: :mod:`.runs` (starts: :mod:`.starts`); the
wire format: :mod:`tokenwire.protocols.langgraph`.
"""

from __future__ import annotations

from fastapi import APIRouter

from tokenwire.gateway import Gateway
from tokenwire.server.guard import guarded
from tokenwire.server.langgraph.catalog import Catalog
from tokenwire.server.langgraph.runs import add_run_routes
from tokenwire.server.langgraph.threads import add_assistant_routes, add_thread_routes
from tokenwire.server.validation_api import ProblemRoute

__all__ = ["create_langgraph_router"]


def create_langgraph_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(route_class=guarded(ProblemRoute, gateway), tags=["langgraph"])
    catalog = Catalog()
    add_assistant_routes(router, gateway)
    add_thread_routes(router, gateway, catalog)
    add_run_routes(router, gateway, catalog)
    return router
