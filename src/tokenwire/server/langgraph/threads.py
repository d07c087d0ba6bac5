"""``/assistants`` and ``/threads`` of the LangGraph server API, over the gateway's threads.

An assistant is a graph route (``assistant_id`` = ``graph_id`` = the route's name). A
thread is a tokenwire thread: a caller sees only its own (moderators all), another's is a
404 as an unknown one is. See :mod:`.catalog` for threads created before their first run.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from tokenwire.errors import RunRefused, UnknownThread
from tokenwire.gateway import Gateway
from tokenwire.langchain.custom_events import is_graph
from tokenwire.protocols.refusals import native_refusal
from tokenwire.routes import Route
from tokenwire.server.api import read_json
from tokenwire.server.langgraph.catalog import Catalog
from tokenwire.server.langgraph.views import assistant_view, iso, state_checkpoint, state_view
from tokenwire.server.problems import problem, refused

__all__ = ["add_assistant_routes", "add_thread_routes", "thread_view"]


def _graph_routes(gateway: Gateway) -> list[Route]:
    return [r for r in gateway.routes.values() if is_graph(r.runnable)]


def add_assistant_routes(router: APIRouter, gateway: Gateway) -> None:
    started_at = time.time()

    def find(assistant_id: str) -> Route | None:
        route = gateway.routes.get(assistant_id)
        return route if route is not None and is_graph(route.runnable) else None

    @router.post("/assistants/search")
    async def search_assistants(request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, Response):
            return body
        found = [
            assistant_view(r, started_at)
            for r in _graph_routes(gateway)
            if body.get("graph_id") in (None, r.name) and body.get("name") in (None, r.name)
        ]
        return JSONResponse(_page(found, body))

    @router.get("/assistants/{assistant_id}", responses={404: {}})
    async def get_assistant(assistant_id: str) -> Response:
        route = find(assistant_id)
        if route is None:
            return _no_assistant(assistant_id)
        return JSONResponse(assistant_view(route, started_at))

    @router.get("/assistants/{assistant_id}/schemas", responses={404: {}})
    async def get_schemas(assistant_id: str) -> Response:
        route = find(assistant_id)
        if route is None:
            return _no_assistant(assistant_id)
        graph: Any = route.runnable
        output = _schema(graph.get_output_jsonschema)
        return JSONResponse(
            {
                "graph_id": route.name,
                "input_schema": _schema(graph.get_input_jsonschema),
                "output_schema": output,
                "state_schema": output,
                "config_schema": _schema(graph.get_config_jsonschema),
                "context_schema": _schema(graph.get_context_jsonschema),
            }
        )

    @router.get("/assistants/{assistant_id}/graph", responses={404: {}})
    async def get_graph(assistant_id: str) -> Response:
        route = find(assistant_id)
        if route is None:
            return _no_assistant(assistant_id)
        graph: Any = route.runnable
        return JSONResponse(graph.get_graph().to_json())


def add_thread_routes(router: APIRouter, gateway: Gateway, catalog: Catalog) -> None:
    @router.post("/threads", responses={409: {}})
    async def create_thread(request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, Response):
            return body
        thread_id = body.get("thread_id") or str(uuid.uuid4())
        if not isinstance(thread_id, str) or len(thread_id) > 256:
            return problem(422, "Invalid thread", "thread_id: a string of at most 256 characters")
        metadata = body.get("metadata") or {}
        if catalog.taken(thread_id) or await gateway.threads.exists(thread_id):
            if body.get("if_exists") == "do_nothing" and catalog.get(thread_id) is not None:
                return JSONResponse(await thread_view(gateway, catalog, thread_id))
            return problem(409, "Thread exists", f"thread {thread_id!r} already exists")
        catalog.create(thread_id, metadata if isinstance(metadata, dict) else {})
        return JSONResponse(await thread_view(gateway, catalog, thread_id))

    @router.post("/threads/search")
    async def search_threads(request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, Response):
            return body
        wanted = body.get("metadata") or {}
        views = []
        for record in catalog.visible():
            if all(record.metadata.get(k) == v for k, v in wanted.items()):
                views.append(await thread_view(gateway, catalog, record.thread_id))
        status = body.get("status")
        views = [v for v in views if status in (None, v["status"])]
        views.sort(key=lambda v: v["updated_at"], reverse=True)
        return JSONResponse(_page(views, body))

    @router.get("/threads/{thread_id}", responses={404: {}})
    async def get_thread(thread_id: str) -> Response:
        try:
            return JSONResponse(await thread_view(gateway, catalog, thread_id))
        except RunRefused as exc:
            return refused(native_refusal(exc))

    @router.patch("/threads/{thread_id}", responses={404: {}})
    async def patch_thread(thread_id: str, request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, Response):
            return body
        try:
            await thread_view(gateway, catalog, thread_id)  # the caller's, or a 404
        except RunRefused as exc:
            return refused(native_refusal(exc))
        record = catalog.get(thread_id) or catalog.create(thread_id, {})
        metadata = body.get("metadata")
        if isinstance(metadata, dict):
            record.metadata.update(metadata)
            record.updated_at = time.time()
        return JSONResponse(await thread_view(gateway, catalog, thread_id))

    @router.delete("/threads/{thread_id}", status_code=204, responses={404: {}, 409: {}})
    async def delete_thread(thread_id: str) -> Response:
        known = catalog.get(thread_id) is not None
        if (known or await gateway.threads.exists(thread_id)) and _busy(gateway, thread_id):
            return problem(409, "Thread busy", f"a run holds thread {thread_id!r}")
        try:
            await gateway.threads.delete(thread_id)
        except UnknownThread:
            if not known:
                return refused(native_refusal(UnknownThread(thread_id)))
        catalog.forget(thread_id)
        return Response(status_code=204)

    @router.get("/threads/{thread_id}/state", responses={404: {}})
    async def get_state(thread_id: str) -> Response:
        try:
            return JSONResponse(await _state(gateway, catalog, thread_id))
        except RunRefused as exc:
            return refused(native_refusal(exc))

    @router.post("/threads/{thread_id}/state", responses={404: {}, 409: {}, 422: {}})
    async def update_state(thread_id: str, request: Request) -> Response:
        """``update_state``: write ``values`` as ``as_node`` (LangGraph's ``aupdate_state``);
        answers ``{"checkpoint": ...}``. Not while a run holds the thread (409)."""
        body = await _object(request)
        if isinstance(body, Response):
            return body
        if body.get("checkpoint_id") or body.get("checkpoint"):
            return problem(422, "Invalid request", "checkpoint: only the thread's latest state")
        as_node = body.get("as_node")
        if as_node is not None and not isinstance(as_node, str):
            return problem(422, "Invalid request", "as_node: a node name")
        try:
            route, config = await gateway.threads.graph(thread_id)
        except UnknownThread as exc:
            if catalog.get(thread_id) is not None:
                detail = "the thread has no graph yet: start a run on it first"
                return problem(409, "Thread not started", detail)
            return refused(native_refusal(exc))
        if _busy(gateway, thread_id):
            return problem(409, "Thread busy", f"a run holds thread {thread_id!r}")
        from langgraph.errors import InvalidUpdateError  # a graph route: LangGraph is there

        graph: Any = route.runnable
        try:
            written = await graph.aupdate_state(config, body.get("values"), as_node=as_node)
        except (InvalidUpdateError, ValueError, KeyError, TypeError) as exc:
            return problem(422, "Invalid state update", str(exc) or type(exc).__name__)
        checkpoint = state_checkpoint(written, thread_id)
        return JSONResponse({"checkpoint": checkpoint})

    @router.post("/threads/{thread_id}/history", responses={404: {}})
    async def get_history(thread_id: str, request: Request) -> Response:
        body = await _object(request)
        if isinstance(body, Response):
            return body
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            return problem(422, "Invalid request", "limit: an integer from 1 to 1000")
        try:
            route, config = await gateway.threads.graph(thread_id)
        except UnknownThread as exc:
            if catalog.get(thread_id) is not None:
                return JSONResponse([])
            return refused(native_refusal(exc))
        graph: Any = route.runnable
        states = []
        async for state in graph.aget_state_history(config, limit=limit):
            states.append(_masked(route, state_view(state, thread_id)))
        return JSONResponse(states)


async def _state(gateway: Gateway, catalog: Catalog, thread_id: str) -> dict[str, Any]:
    """The thread's latest ``ThreadState``; an empty one for a thread not run yet."""
    try:
        route, config = await gateway.threads.graph(thread_id)
    except UnknownThread:
        if catalog.get(thread_id) is None:
            raise
        return {
            "values": {},
            "next": [],
            "checkpoint": {"thread_id": thread_id, "checkpoint_ns": "", "checkpoint_id": None},
            "metadata": {},
            "created_at": None,
            "parent_checkpoint": None,
            "tasks": [],
            "interrupts": [],
        }
    graph: Any = route.runnable
    return _masked(route, state_view(await graph.aget_state(config), thread_id))


async def thread_view(gateway: Gateway, catalog: Catalog, thread_id: str) -> dict[str, Any]:
    """``Thread``: ids, times, metadata, status (``busy`` while a run holds it), values and
    the interrupts it waits at by task; ``UnknownThread`` unless the caller may see it."""
    record = catalog.get(thread_id)
    state = await _state(gateway, catalog, thread_id)
    status = (
        "busy" if _busy(gateway, thread_id) else "interrupted" if state["interrupts"] else "idle"
    )
    created = record.created_at if record is not None else None
    updated = record.updated_at if record is not None else None
    return {
        "thread_id": thread_id,
        "created_at": state["created_at"] or iso(created),
        "updated_at": state["created_at"] or iso(updated),
        "metadata": dict(record.metadata) if record is not None else {},
        "status": status,
        "values": state["values"],
        "interrupts": {t["id"]: t["interrupts"] for t in state["tasks"] if t["interrupts"]},
    }


def _busy(gateway: Gateway, thread_id: str) -> bool:
    """Whether a run of this replica holds the thread (the gate's claim decides a start)."""
    return any(r.thread_id == thread_id and not r.done for r in gateway.registry)


def _masked(route: Route, view: dict[str, Any]) -> dict[str, Any]:
    """A thread's state holds what users, models and tools said: masked whenever the route
    masks anything (as ``GET /v1/threads/{id}`` is)."""
    masking = route.masking
    if masking is None:
        return view
    mask = masking.value
    return {
        **view,
        "values": mask(view["values"]),
        "interrupts": mask(view["interrupts"]),
        "tasks": mask(view["tasks"]),
    }


def _schema(build: Any) -> dict[str, Any] | None:
    """A graph's JSON schema, or None where pydantic cannot build one (a ``typing.TypedDict``
    state on Python < 3.12, say): one schema it cannot describe must not fail the others."""
    try:
        schema: dict[str, Any] = build()
    except Exception:
        return None
    return schema


def _page(items: list[Any], body: dict[str, Any]) -> list[Any]:
    limit, offset = body.get("limit", 10), body.get("offset", 0)
    limit = limit if isinstance(limit, int) and limit > 0 else 10
    offset = offset if isinstance(offset, int) and offset >= 0 else 0
    return items[offset : offset + limit]


async def _object(request: Request) -> dict[str, Any] | Response:
    if not (await request.body()).strip():
        return {}
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return problem(422, "Invalid request", "the body must be a JSON object")
    return body


def _no_assistant(assistant_id: str) -> Response:
    return problem(404, "Unknown assistant", f"no graph route {assistant_id!r}")
