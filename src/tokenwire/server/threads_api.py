"""LangGraph threads over HTTP: a thread's state and history, and its approvals.

- ``GET /v1/threads/{thread_id}`` — ``{thread_id, route, values, next, interrupts,
  checkpoint_id, parent_checkpoint_id, step, updated_at}``;
- ``GET /v1/threads/{thread_id}/history?limit=`` — ``{"states": [...]}``, newest first;
- ``POST /v1/threads/{thread_id}/runs`` — a run on an existing thread, its route the
  thread's: the native start body (``input`` or ``command``, ``multitask``, ``config``,
  ``metadata``). ``{"command": {"resume": null}}`` carries on from the last checkpoint —
  how a run whose replica died is restarted;
- ``POST /v1/threads/{thread_id}/approvals`` — ``{"decisions": [{call_id, type, args?,
  name?, message?}]}`` answers the tool calls the thread waits for (``approval.required``)
  and resumes it: a run, streamed or 202, exactly as ``POST /v1/routes/{route}/runs``
  with ``{"thread_id", "command": {"resume": ...}}`` would start it.

A caller sees only its own threads (moderators all); another's is a 404, as an unknown
one is.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from tokenwire.errors import RunRefused
from tokenwire.gateway import Gateway
from tokenwire.protocols.refusals import native_refusal
from tokenwire.server.api import answer_start, parse_run_request, read_json
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem, refused
from tokenwire.server.validation_api import ProblemRoute
from tokenwire.threads import ThreadRequest

__all__ = ["create_threads_router"]


#: A start's answers: its stream, or 202 with where to find it; refusals.
_STARTS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}},
    **{status: {} for status in (404, 409, 422)},
}


def create_threads_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(prefix="/v1/threads", route_class=guarded(ProblemRoute, gateway))

    @router.get("/{thread_id}", responses={404: {}})
    async def get_thread(thread_id: str) -> Response:
        try:
            return JSONResponse(await gateway.threads.state(thread_id))
        except RunRefused as exc:
            return refused(native_refusal(exc))

    @router.get("/{thread_id}/history", responses={404: {}})
    async def thread_history(
        thread_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20
    ) -> Response:
        try:
            states = await gateway.threads.history(thread_id, limit)
        except RunRefused as exc:
            return refused(native_refusal(exc))
        return JSONResponse({"states": states})

    @router.post(
        "/{thread_id}/runs",
        status_code=202,
        responses=_STARTS,
    )
    async def run_on_thread(thread_id: str, request: Request) -> Response:
        data = await read_json(request)
        if isinstance(data, Response):
            return data
        if isinstance(data, dict):
            data = {**data, "thread_id": thread_id}
        body = parse_run_request(data)
        if isinstance(body, Response):
            return body
        try:
            route = await gateway.threads.route_of(thread_id)
        except RunRefused as exc:
            return refused(native_refusal(exc))
        return await answer_start(
            gateway,
            request,
            route,
            body.input,
            config=body.config,
            on_disconnect=body.on_disconnect,
            metadata=body.metadata,
            thread=body.thread(),
        )

    @router.post(
        "/{thread_id}/approvals",
        status_code=202,
        responses=_STARTS,
    )
    async def decide(thread_id: str, request: Request) -> Response:
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or set(body) - {"decisions", "metadata"}:
            return problem(422, "Invalid approvals", 'the body must be {"decisions": [...]}')
        decisions = body.get("decisions")
        if not isinstance(decisions, list) or not decisions:
            return problem(422, "Invalid approvals", "decisions: must be a non-empty list")
        try:
            route = await gateway.threads.route_of(thread_id)
        except RunRefused as exc:
            return refused(native_refusal(exc))
        return await answer_start(
            gateway,
            request,
            route,
            None,
            thread=ThreadRequest(thread_id, decisions=decisions),
            metadata=_metadata(body),
        )

    return router


def _metadata(body: dict[str, Any]) -> dict[str, Any] | None:
    metadata = body.get("metadata")
    return metadata if isinstance(metadata, dict) else None
