"""The native HTTP API: start, rejoin, inspect and cancel runs.

Every error before the first byte is a problem+json response with a real status code;
once streaming, errors travel in-band as ``error`` events.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError
from starlette.responses import JSONResponse, Response

from tokenwire.errors import ClusterUnavailable, FeedbackRefused, RunRefused
from tokenwire.gateway import Gateway
from tokenwire.protocols.client_json import InvalidJSON, loads
from tokenwire.protocols.native_sse import NativeEncoder, retry_hint
from tokenwire.protocols.refusals import native_refusal
from tokenwire.routes import DisconnectPolicy
from tokenwire.runs.run import Run
from tokenwire.server.direct_route import DirectRoute, Endpoint
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem, refused
from tokenwire.server.schemas import RunAccepted, RunRequest, RunSnapshot
from tokenwire.server.sse import EventStreamResponse, run_stream
from tokenwire.server.stream_token_api import add_stream_token_route
from tokenwire.server.validation_api import ProblemRoute
from tokenwire.threads import ThreadRequest

__all__ = ["answer_start", "create_router", "parse_run_request", "read_json"]

_CANCEL_WAIT_SECONDS = 5.0
_DEFAULT_CANCEL_REASON = "cancelled by request"
_MAX_CANCEL_REASON = 200
START_PATH = "/v1/routes/{route}/runs"
_NATIVE = NativeEncoder()
_FEEDBACK_SHAPE = 'the body must be {"score": <0 to 1>, "comment": "<optional>"}'
_FEEDBACK_ERRORS: dict[int | str, dict[str, Any]] = {status: {} for status in (403, 404, 422, 503)}


def _optional_header(name: str, title: str) -> dict[str, Any]:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "title": title}
    return {"name": name, "in": "header", "required": False, "schema": schema}


#: What ``route: str`` and two optional ``Header()`` parameters would document.
_START_RUN_PARAMETERS = [
    {
        "name": "route",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "title": "Route"},
    },
    _optional_header("idempotency-key", "Idempotency-Key"),
    _optional_header("last-event-id", "Last-Event-Id"),
]
#: The body the endpoint reads by hand, documented as a declared ``RunRequest`` would be.
_START_RUN_BODY = {
    "required": True,
    "content": {"application/json": {"schema": RunRequest.model_json_schema()}},
}


def create_router(gateway: Gateway) -> APIRouter:
    """The native API as a router to mount in any FastAPI app (``app.include_router``)."""
    router = APIRouter(route_class=guarded(ProblemRoute, gateway))
    router.add_api_route(
        START_PATH,
        start_run_endpoint(gateway),
        methods=["POST"],
        name="start_run",
        status_code=202,
        response_model=RunAccepted,
        responses={
            200: {"content": {"text/event-stream": {}}},
            **{status: {} for status in (404, 409, 422, 429, 503)},
        },
        openapi_extra={"parameters": _START_RUN_PARAMETERS, "requestBody": _START_RUN_BODY},
        route_class_override=guarded(DirectRoute, gateway),
    )

    @router.get(
        "/v1/runs/{run_id}/stream",
        responses={200: {"content": {"text/event-stream": {}}}, 404: {}, 422: {}, 503: {}},
    )
    async def rejoin(
        run_id: str,
        after: Annotated[str | None, Query(description="Replay events after this seq.")] = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> Response:
        run = await _find(gateway, run_id)
        if isinstance(run, Response):
            return run
        cursor = _parse_cursor(last_event_id, after)
        if isinstance(cursor, Response):
            return cursor
        return _stream(gateway, run, cursor)

    add_stream_token_route(router, gateway)

    @router.get("/v1/runs/{run_id}", response_model=RunSnapshot, responses={404: {}, 503: {}})
    async def get_run(run_id: str) -> Response:
        run = await _find(gateway, run_id)
        if isinstance(run, Response):
            return run
        return JSONResponse(run.snapshot())

    @router.post(
        "/v1/runs/{run_id}/cancel", response_model=RunSnapshot, responses={404: {}, 503: {}}
    )
    async def cancel_run(run_id: str, request: Request) -> Response:
        run = await _find(gateway, run_id)
        if isinstance(run, Response):
            return run
        reason = await _read_cancel_reason(request)
        if isinstance(reason, Response):
            return reason
        if run.cancel(reason):
            await run.settle(_CANCEL_WAIT_SECONDS)
        return JSONResponse(run.snapshot())

    @router.post(
        "/v1/runs/{run_id}/approvals",
        response_model=RunSnapshot,
        responses={404: {}, 409: {}, 422: {}, 503: {}},
    )
    async def decide_in_run(run_id: str, request: Request) -> Response:
        """Answer the calls a live run waits on (``approval.required`` outside a thread)."""
        run = await _find(gateway, run_id)
        if isinstance(run, Response):
            return run
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or set(body) != {"decisions"}:
            return problem(422, "Invalid approvals", 'the body must be {"decisions": [...]}')
        approvals = run.approvals if isinstance(run, Run) and not run.done else None
        if approvals is None or not approvals.pending:
            return problem(409, "No approval pending", f"run {run_id!r} waits for no approval")
        try:
            approvals.decide(body["decisions"])
        except ValueError as exc:
            return problem(422, "Invalid approvals", str(exc))
        return JSONResponse(run.snapshot())

    @router.post("/v1/runs/{run_id}/feedback", status_code=202, responses={**_FEEDBACK_ERRORS})
    async def give_feedback(run_id: str, request: Request) -> Response:
        """A user's score of the run (``{"score": 0..1, "comment"?: str}``), from the key
        that started it: audited beside the run's record, measured, sent to LangSmith."""
        run = await _find(gateway, run_id)
        if isinstance(run, Response):
            return run
        body = await read_json(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body, dict) or "score" not in body or set(body) - {"score", "comment"}:
            return problem(422, "Invalid feedback", _FEEDBACK_SHAPE)
        try:
            feedback = gateway.give_feedback(run, body["score"], body.get("comment"))
        except FeedbackRefused as exc:
            return problem(exc.status, "Feedback refused", str(exc))
        return JSONResponse(feedback.to_dict(), status_code=202)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {}})
    async def readyz() -> Response:
        try:
            ready = await asyncio.wait_for(gateway.broker.ping(), 2.0)
        except Exception:
            ready = False
        if not ready:
            return problem(503, "Not ready", "the broker is unreachable")
        return JSONResponse({"status": "ready", "routes": sorted(gateway.routes)})

    return router


def start_run_endpoint(gateway: Gateway) -> Endpoint:
    """``POST /v1/routes/{route}/runs``: start a run; stream it (``Accept:
    text/event-stream``) or answer 202 with where to find it."""

    async def start_run(request: Request) -> Response:
        # Path parameter, headers and body are read here, not declared: FastAPI's
        # per-request dependency solving is a large part of a stream's fixed cost. They are
        # documented through ``openapi_extra`` exactly as declared parameters would be.
        body = await _read_run_request(request)
        if isinstance(body, Response):
            return body
        return await answer_start(
            gateway,
            request,
            request.path_params["route"],
            body.input,
            config=body.config,
            on_disconnect=body.on_disconnect,
            metadata=body.metadata,
            thread=body.thread(),
        )

    return start_run


async def answer_start(
    gateway: Gateway,
    request: Request,
    route: str,
    input: Any,
    *,
    config: dict[str, Any] | None = None,
    on_disconnect: DisconnectPolicy | None = None,
    metadata: dict[str, Any] | None = None,
    thread: ThreadRequest | None = None,
) -> Response:
    """Start a run for ``request`` and answer it: its stream (``Accept:
    text/event-stream``, from ``Last-Event-ID``), else 202 with where to find it (200
    for an ``Idempotency-Key`` replay)."""
    headers = request.headers
    streaming = "text/event-stream" in headers.get("accept", "")
    # Everything the request can get wrong is checked before the run starts: a refusal
    # after it would leave a run that nobody follows holding a slot.
    after = _parse_cursor(headers.get("last-event-id"), None) if streaming else 0
    if isinstance(after, Response):
        return after
    policy = on_disconnect or (None if streaming else "continue")
    try:
        run, created = await gateway.start_run(
            route,
            input,
            config=config,
            on_disconnect=policy,
            metadata=metadata,
            idempotency_key=headers.get("idempotency-key"),
            thread=thread,
        )
    except RunRefused as exc:
        return refused(native_refusal(exc))
    replayed = {} if created else {"Idempotent-Replayed": "true"}
    if streaming:
        return _stream(gateway, run, after, headers=replayed)
    accepted = {
        "run_id": run.id,
        "status": run.status.value,
        "stream_url": request.url_for("rejoin", run_id=run.id).path,
        "status_url": request.url_for("get_run", run_id=run.id).path,
    }
    return JSONResponse(accepted, status_code=202 if created else 200, headers=replayed)


def _stream(
    gateway: Gateway, run: Run, after: int, headers: dict[str, str] | None = None
) -> EventStreamResponse:
    settings = gateway.settings
    preamble = retry_hint(settings.retry_ms)
    return run_stream(run, _NATIVE, settings, after=after, preamble=preamble, headers=headers)


async def _read_run_request(request: Request) -> RunRequest | Response:
    data = await read_json(request)
    if isinstance(data, Response):
        return data
    return parse_run_request(data)


def parse_run_request(data: Any) -> RunRequest | Response:
    """A start's JSON body as a :class:`RunRequest`, or the 422 saying what is wrong."""
    try:
        return RunRequest.model_validate(data)
    except ValidationError as exc:
        errors = [_describe(err) for err in exc.errors()]
        return problem(422, "Invalid run request", "; ".join(errors), errors=errors)


async def _read_cancel_reason(request: Request) -> str | Response:
    """The optional body ``{"reason": "halted by a moderator"}``: the reason ends up in the
    run's ``error`` event (``run cancelled: <reason>``), which every subscriber sees."""
    if not (await request.body()).strip():
        return _DEFAULT_CANCEL_REASON
    data = await read_json(request)
    if isinstance(data, Response):
        return data
    if not isinstance(data, dict):
        return problem(422, "Invalid cancel request", 'the body must be {"reason": "..."}')
    reason = data.get("reason")
    if reason is None:
        return _DEFAULT_CANCEL_REASON
    if not isinstance(reason, str) or not reason.strip():
        return problem(422, "Invalid cancel request", "reason must be a non-empty string")
    # Shown to every subscriber: one short line.
    return " ".join(reason.split())[:_MAX_CANCEL_REASON]


async def read_json(request: Request) -> Any:
    try:
        return loads(await request.body())
    except InvalidJSON as exc:
        return problem(422, "Malformed JSON", f"the request body is not valid JSON: {exc}")


def _describe(error: Any) -> str:
    where = ".".join(str(p) for p in error.get("loc", ())) or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _parse_cursor(header: str | None, query: str | None) -> int | Response:
    raw = header if header is not None else query
    if raw is None or raw == "":
        return 0
    try:
        cursor = int(raw)
    except ValueError:
        cursor = -1
    if cursor < 0:
        return problem(
            422, "Invalid cursor", f"Last-Event-ID / after must be an event seq, got {raw!r}"
        )
    return cursor


async def _find(gateway: Gateway, run_id: str) -> Run | Response:
    """The run, or the problem response saying why not (unknown, or not looked up now)."""
    try:
        run = await gateway.find_run(run_id)
    except ClusterUnavailable as exc:
        return refused(native_refusal(exc))
    return _unknown_run(run_id) if run is None else run


def _unknown_run(run_id: str) -> Response:
    return problem(404, "Unknown run", f"no run {run_id!r} (it may have expired)")
