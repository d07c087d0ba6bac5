"""LangServe-compatible endpoints: ``/langserve/{route}/invoke``, ``batch``, ``stream``,
``stream_events``, ``stream_log``, the schemas and ``playground``.

``/{route}/playground`` (LangServe's own page) redirects (307) to tokenwire's playground
on that route (``/ui/?route=…``); like the UI's pages it needs no key.

``RemoteRunnable("http://host/langserve/<route>/")`` works unchanged: the request bodies,
responses and SSE events follow LangServe 0.3 (the wire encoding is in
:mod:`tokenwire.protocols.langserve`). Like LangServe, only the ``configurable`` part of
a client's config (plus ``tags``, ``metadata`` and ``run_name``, which tokenwire also
honours) crosses the wire; ``recursion_limit`` and friends that ``RemoteRunnable`` always
sends are dropped. Errors before anything runs: 404 unknown route, 422 invalid input,
503 too many runs, each with a JSON ``detail``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from tokenwire.errors import RunRefused
from tokenwire.gateway import Gateway
from tokenwire.langchain.adapter import is_chat_model
from tokenwire.pipeline.masking import shown_input
from tokenwire.protocols.langserve import (
    OutputShape,
    StreamEncoder,
    decode_input,
    failure,
    invoke_output,
    root_run_id,
)
from tokenwire.protocols.langserve_events import EventFilter, StreamEventsEncoder
from tokenwire.protocols.langserve_log import StreamLogEncoder
from tokenwire.protocols.refusals import langserve_refusal
from tokenwire.protocols.subscription import (
    ClientGone,
    WireEncoder,
    collect_runs,
    wait_for_disconnect,
)
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.server.guard import guarded
from tokenwire.server.problems import refused
from tokenwire.server.sse import run_stream
from tokenwire.server.validation_api import JSONRoute

__all__ = ["create_langserve_router"]

_CONFIG_KEYS = ("configurable", "tags", "metadata", "run_name")


class InvokeRequest(BaseModel):
    input: Any = Field(description="The runnable's input (LangServe-serialized).")
    config: dict[str, Any] | None = None
    kwargs: dict[str, Any] | None = None


class BatchRequest(BaseModel):
    inputs: list[Any] = Field(max_length=1000)
    config: dict[str, Any] | list[dict[str, Any]] | None = None
    kwargs: dict[str, Any] | None = None


class StreamEventsRequest(InvokeRequest):
    include_names: list[str] | None = None
    include_types: list[str] | None = None
    include_tags: list[str] | None = None
    exclude_names: list[str] | None = None
    exclude_types: list[str] | None = None
    exclude_tags: list[str] | None = None


class StreamLogRequest(StreamEventsRequest):
    #: ``RemoteRunnable`` always asks for patches (``True``); whole states are not offered.
    diff: bool | None = None


class InvokeResponse(BaseModel):
    output: Any
    metadata: dict[str, Any]


class BatchResponse(BaseModel):
    output: list[Any]
    metadata: dict[str, Any]


class Detail(BaseModel):
    detail: Any


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Detail} for code in (404, 422, 429, 500, 502, 503)
}
_SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


def shape_of(route: Route) -> OutputShape:
    return "message" if is_chat_model(route.runnable) else "value"


def create_langserve_router(gateway: Gateway, prefix: str = "/langserve") -> APIRouter:
    router = APIRouter(
        prefix=prefix + "/{route}", tags=["langserve"], route_class=guarded(JSONRoute, gateway)
    )

    async def start(route: str, input: Any, config: dict[str, Any] | None) -> Run | Response:
        try:
            run, _ = await gateway.start_run(
                route,
                decode_input(input),
                config=_client_config(config),
                metadata={"protocol": "langserve"},
                protocol="langserve",
            )
        except RunRefused as exc:
            return refused(langserve_refusal(exc))
        return run

    def stream_response(run: Run, encoder: WireEncoder) -> Response:
        return run_stream(run, encoder, gateway.settings)

    @router.post("/invoke", response_model=InvokeResponse, responses=_ERRORS)
    async def invoke(route: str, body: InvokeRequest, request: Request) -> Response:
        run = await start(route, body.input, body.config)
        if isinstance(run, Response):
            return run
        outcome = await _finish([run], request, shape_of(gateway.route(route)))
        if isinstance(outcome, Response):
            return outcome
        metadata = {"run_id": root_run_id(run.id), "feedback_tokens": []}
        return JSONResponse({"output": outcome[0], "metadata": metadata})

    @router.post("/batch", response_model=BatchResponse, responses=_ERRORS)
    async def batch(route: str, body: BatchRequest, request: Request) -> Response:
        found = _route(gateway, route)
        if isinstance(found, Response):
            return found
        configs = body.config if isinstance(body.config, list) else [body.config] * len(body.inputs)
        if len(configs) != len(body.inputs):
            detail = "config must be one object or a list as long as inputs"
            return JSONResponse({"detail": detail}, status_code=422)
        runs: list[Run] = []
        try:
            for input, config in zip(body.inputs, configs, strict=True):
                run = await start(route, input, config)
                if isinstance(run, Response):
                    _cancel_all(runs, "another input of the batch was refused")
                    return run
                runs.append(run)
        except BaseException:  # the client left while the batch was being admitted
            _cancel_all(runs, "the batch request ended before all its runs started")
            raise
        outcome = await _finish(runs, request, shape_of(found))
        if isinstance(outcome, Response):
            return outcome
        responses = [{"run_id": root_run_id(r.id), "feedback_tokens": []} for r in runs]
        metadata = {"run_ids": [root_run_id(r.id) for r in runs], "responses": responses}
        return JSONResponse({"output": outcome, "metadata": metadata})

    @router.post("/stream", responses={**_SSE, **_ERRORS})
    async def stream(route: str, body: InvokeRequest) -> Response:
        run = await start(route, body.input, body.config)
        if isinstance(run, Response):
            return run
        encoder = StreamEncoder(run.id, shape_of(gateway.route(route)))
        return stream_response(run, encoder)

    @router.post("/stream_events", responses={**_SSE, **_ERRORS})
    async def stream_events(route: str, body: StreamEventsRequest) -> Response:
        run = await start(route, body.input, body.config)
        if isinstance(run, Response):
            return run
        event_filter = _filter(body)
        found = gateway.route(route)
        shown = shown_input(found.masking, body.input)  # it is echoed in the root start event
        encoder = StreamEventsEncoder(run.id, route, shape_of(found), shown, event_filter)
        return stream_response(run, encoder)

    @router.post("/stream_log", responses={**_SSE, **_ERRORS})
    async def stream_log(route: str, body: StreamLogRequest) -> Response:
        if body.diff is False:
            return JSONResponse({"detail": "stream_log streams patches only: diff=true"}, 422)
        run = await start(route, body.input, body.config)
        if isinstance(run, Response):
            return run
        encoder = StreamLogEncoder(run.id, route, shape_of(gateway.route(route)), _filter(body))
        return stream_response(run, encoder)

    @router.get("/playground", include_in_schema=False)
    @router.get("/playground/{path:path}", include_in_schema=False)
    async def playground(route: str, request: Request) -> Response:
        found = _route(gateway, route)
        if isinstance(found, Response):
            return found
        # tokenwire's own playground, on this route; relative to root_path behind a proxy.
        where = f"{request.scope.get('root_path', '')}/ui/?route={quote(route, safe='')}"
        return RedirectResponse(where, status_code=307)

    @router.get("/input_schema", responses={404: {"model": Detail}})
    async def input_schema(route: str) -> Any:
        found = _route(gateway, route)
        if isinstance(found, Response):
            return found
        return _schema(found.runnable.get_input_schema)

    @router.get("/output_schema", responses={404: {"model": Detail}})
    async def output_schema(route: str) -> Any:
        found = _route(gateway, route)
        if isinstance(found, Response):
            return found
        try:
            model = found.runnable.get_output_schema()
        except Exception:  # e.g. a typing.TypedDict state before 3.12: see _schema
            return {}
        if shape_of(found) == "value" and "messages" in getattr(model, "model_fields", {}):
            # The run's output summarizes a messages state to its answer text.
            return {"title": f"{route} output", "type": "string"}
        return _schema(lambda: model)

    @router.get("/config_schema", responses={404: {"model": Detail}})
    async def config_schema(route: str) -> Any:
        found = _route(gateway, route)
        if isinstance(found, Response):
            return found
        runnable = found.runnable
        return _schema(lambda: runnable.config_schema(include=["configurable"]))

    return router


def _filter(body: StreamEventsRequest) -> EventFilter:
    return EventFilter(
        body.include_names,
        body.include_types,
        body.include_tags,
        body.exclude_names,
        body.exclude_types,
        body.exclude_tags,
    )


def _cancel_all(runs: list[Run], reason: str) -> None:
    """All or nothing, as LangServe validates a whole batch before running any of it."""
    for run in runs:
        run.cancel(reason)


async def _finish(runs: list[Run], request: Request, shape: OutputShape) -> list[Any] | Response:
    """The runs' ``invoke`` outputs, or the error response of the first that failed."""
    try:
        results = await collect_runs(runs, lambda: wait_for_disconnect(request.receive))
    except ClientGone:
        return Response(status_code=499)
    outputs = []
    for run, events in zip(runs, results, strict=True):
        error = failure(events[-1].data)
        if error is not None:
            for other in runs:
                other.cancel("another input of the batch failed")
            return JSONResponse({"detail": error["message"]}, status_code=error["status_code"])
        outputs.append(invoke_output(run.id, shape, events))
    return outputs


def _client_config(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if not raw:
        return None
    return {key: raw[key] for key in _CONFIG_KEYS if raw.get(key)}


def _route(gateway: Gateway, name: str) -> Route | Response:
    route = gateway.routes.get(name)
    if route is None:
        return JSONResponse({"detail": f"no route named {name!r}"}, status_code=404)
    return route


def _schema(build: Callable[[], Any]) -> dict[str, Any]:
    """The JSON schema of the model ``build`` returns; ``{}`` (any value) when pydantic
    cannot build it — a ``typing.TypedDict`` state before Python 3.12 — since the route's
    own code must not make the endpoint answer 500 (its runs take input unvalidated)."""
    try:
        return dict(build().model_json_schema())
    except Exception:
        return {}
