"""``GET /v1/actions``: what ``@action`` calls did, from the action ledger (moderators and
auditors).

``?thread_id=&run_id=&status=&limit=`` filter (``status``: running, intended,
succeeded, failed, discarded); entries come newest
first as ``{key, action, args, status, result, error, started_at, finished_at, run_id,
thread_id}`` — ``run_id`` links each to its run's audit record.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse, Response

from tokenwire.actions.ledger import ActionEntry, ActionStatus
from tokenwire.gateway import Gateway
from tokenwire.server.guard import guarded
from tokenwire.server.validation_api import ProblemRoute

__all__ = ["create_actions_router"]


def create_actions_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(route_class=guarded(ProblemRoute, gateway))

    @router.get("/v1/actions", responses={403: {}, 422: {}})
    async def list_actions(
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response:
        found = await gateway.actions.entries(
            thread_id=thread_id, run_id=run_id, status=status, limit=limit
        )
        return JSONResponse({"actions": [_shown(e) for e in found]})

    return router


def _shown(entry: ActionEntry) -> dict[str, Any]:
    """An entry as operators see it: the sealed raw result and a deferred call's raw
    arguments stay in the database."""
    shown = dataclasses.asdict(entry)
    del shown["sealed"], shown["commit_args"]
    return shown
