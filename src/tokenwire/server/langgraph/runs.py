"""``/threads/{id}/runs…`` and stateless ``/runs…`` of the LangGraph server API.

Every run is a gateway run (:mod:`.starts`), streamed from its event log by
:class:`~tokenwire.protocols.langgraph.LangGraphEncoder`: a stream is resumable always — each
response names its run (``Content-Location``) and where to rejoin it (``Location``, which
``langgraph-sdk`` reconnects to with ``Last-Event-ID`` when the connection drops).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from tokenwire.errors import ClusterUnavailable, RunRefused
from tokenwire.events import RunStatus
from tokenwire.gateway import Gateway
from tokenwire.protocols.langgraph import SUPPORTED_MODES, LangGraphEncoder, stream_modes
from tokenwire.protocols.native_sse import retry_hint
from tokenwire.protocols.refusals import native_refusal
from tokenwire.runs.run import Run
from tokenwire.server.api import read_json
from tokenwire.server.langgraph.catalog import Catalog
from tokenwire.server.langgraph.starts import parse_body, start
from tokenwire.server.langgraph.threads import thread_view
from tokenwire.server.langgraph.views import run_view
from tokenwire.server.problems import problem, refused
from tokenwire.server.sse import run_stream

__all__ = ["add_run_routes"]

_CANCEL_WAIT_SECONDS = 5.0
_SETTLE_SECONDS = 1.0


def add_run_routes(router: APIRouter, gateway: Gateway, catalog: Catalog) -> None:
    async def begin(request: Request, thread_id: str | None, background: bool) -> Any:
        body = parse_body(await read_json(request))
        if isinstance(body, Response):
            return body, None
        run = await start(gateway, catalog, request, body, thread_id, background=background)
        return run, body

    @router.post("/threads/{thread_id}/runs/stream", responses={404: {}, 409: {}, 422: {}})
    async def stream_on_thread(thread_id: str, request: Request) -> Response:
        return await _streamed(request, thread_id)

    @router.post("/runs/stream", responses={404: {}, 422: {}})
    async def stream_stateless(request: Request) -> Response:
        return await _streamed(request, None)

    async def _streamed(request: Request, thread_id: str | None) -> Response:
        run, body = await begin(request, thread_id, background=False)
        if isinstance(run, Response):
            return run
        return _stream(gateway, run, body.modes, 0)

    @router.post("/threads/{thread_id}/runs", responses={404: {}, 409: {}, 422: {}})
    async def create_on_thread(thread_id: str, request: Request) -> Response:
        return await _created(request, thread_id)

    @router.post("/runs", responses={404: {}, 422: {}})
    async def create_stateless(request: Request) -> Response:
        return await _created(request, None)

    async def _created(request: Request, thread_id: str | None) -> Response:
        run, body = await begin(request, thread_id, background=True)
        if isinstance(run, Response):
            return run
        view = run_view(run, body.multitask)
        return JSONResponse(view, headers={"Content-Location": _run_path(run)})

    @router.post("/threads/{thread_id}/runs/wait", responses={404: {}, 409: {}, 422: {}})
    async def wait_on_thread(thread_id: str, request: Request) -> Response:
        return await _waited(request, thread_id)

    @router.post("/runs/wait", responses={404: {}, 422: {}})
    async def wait_stateless(request: Request) -> Response:
        return await _waited(request, None)

    async def _waited(request: Request, thread_id: str | None) -> Response:
        run, _ = await begin(request, thread_id, background=True)
        if isinstance(run, Response):
            return run
        values = await _final_values(gateway, catalog, run)
        return JSONResponse(values, headers={"Content-Location": _run_path(run)})

    @router.get("/threads/{thread_id}/runs", responses={404: {}})
    async def list_runs(
        thread_id: str,
        limit: Annotated[int, Query(ge=1, le=1000)] = 10,
        offset: Annotated[int, Query(ge=0)] = 0,
        status: str | None = None,
    ) -> Response:
        try:
            await thread_view(gateway, catalog, thread_id)  # the caller's, or a 404
        except RunRefused as exc:
            return refused(native_refusal(exc))
        runs = sorted(
            (r for r in gateway.registry if r.thread_id == thread_id),
            key=lambda r: r.created_at,
            reverse=True,
        )
        views = [run_view(r, catalog.run_multitask(r.id)) for r in runs]
        views = [v for v in views if status in (None, v["status"])]
        return JSONResponse(views[offset : offset + limit])

    @router.get("/threads/{thread_id}/runs/{run_id}", responses={404: {}})
    async def get_run(thread_id: str, run_id: str) -> Response:
        run = await _find(gateway, thread_id, run_id)
        if isinstance(run, Response):
            return run
        return JSONResponse(run_view(run, catalog.run_multitask(run.id)))

    @router.get("/threads/{thread_id}/runs/{run_id}/join", responses={404: {}})
    async def join_run(thread_id: str, run_id: str) -> Response:
        run = await _find(gateway, thread_id, run_id)
        if isinstance(run, Response):
            return run
        return JSONResponse(await _final_values(gateway, catalog, run))

    @router.get("/threads/{thread_id}/runs/{run_id}/stream", responses={404: {}, 422: {}})
    async def join_stream(
        thread_id: str,
        run_id: str,
        request: Request,
        stream_mode: Annotated[list[str] | None, Query()] = None,
    ) -> Response:
        run = await _find(gateway, thread_id, run_id)
        if isinstance(run, Response):
            return run
        stream_mode = [m for m in stream_mode or () if m]  # the SDK sends "" for none
        try:
            asked = stream_modes(stream_mode) if stream_mode else None
        except ValueError as exc:
            return problem(422, "Invalid request", str(exc))
        modes = asked or catalog.run_modes(run.id) or SUPPORTED_MODES
        cursor = request.headers.get("last-event-id") or "0"
        if not cursor.isdigit():
            return problem(422, "Invalid cursor", f"Last-Event-ID must be an event id: {cursor!r}")
        return _stream(gateway, run, modes, int(cursor))

    @router.post("/threads/{thread_id}/runs/{run_id}/cancel", responses={404: {}, 422: {}})
    async def cancel_run(
        thread_id: str, run_id: str, wait: int = 0, action: str = "interrupt"
    ) -> Response:
        if action != "interrupt":
            detail = "action: only interrupt (rollback a thread by starting a run with it)"
            return problem(422, "Invalid request", detail)
        run = await _find(gateway, thread_id, run_id)
        if isinstance(run, Response):
            return run
        if run.cancel("cancelled by request") and wait:
            await run.settle(_CANCEL_WAIT_SECONDS)
        return Response(status_code=202 if not wait else 200)


def _stream(gateway: Gateway, run: Run, modes: frozenset[str], after: int) -> Response:
    # The events before the cursor are in this replica's copy of the log (a followed log
    # is loaded from its start), read without waiting.
    history = [e for e in run.log.since(0) if e.seq <= after] if after else ()
    encoder = LangGraphEncoder(run.id, run.thread_id, modes, history)
    headers = {"Content-Location": _run_path(run)}
    if run.thread_id is not None:
        headers["Location"] = f"{_run_path(run)}/stream"
    preamble = retry_hint(gateway.settings.retry_ms)
    return run_stream(
        run, encoder, gateway.settings, after=after, preamble=preamble, headers=headers
    )


def _run_path(run: Run) -> str:
    if run.thread_id is None:
        return f"/runs/{run.id}"
    return f"/threads/{run.thread_id}/runs/{run.id}"


async def _find(gateway: Gateway, thread_id: str, run_id: str) -> Run | Response:
    try:
        run = await gateway.find_run(run_id)
    except ClusterUnavailable as exc:
        return refused(native_refusal(exc))
    if run is None or run.thread_id != thread_id:
        return problem(404, "Unknown run", f"no run {run_id!r} on thread {thread_id!r}")
    return run


async def _final_values(gateway: Gateway, catalog: Catalog, run: Run) -> Any:
    """Once ``run`` ended: its thread's values (with ``__interrupt__`` when it paused), or
    a stateless run's output; a failed run's error as ``{"__error__": {error, message}}``."""
    while not run.done:
        await run.settle(_SETTLE_SECONDS)
        await asyncio.sleep(0)
    if run.status == RunStatus.FAILED:
        error = run.summary.get("error") or {}
        return {"__error__": {"error": error.get("code"), "message": error.get("message")}}
    if run.thread_id is None:
        return run.summary.get("output")
    view = await thread_view(gateway, catalog, run.thread_id)
    values = view["values"]
    interrupts = [i for found in view["interrupts"].values() for i in found]
    if interrupts and isinstance(values, dict):
        values = {**values, "__interrupt__": interrupts}
    return values
