"""The mock provider's Starlette app: OpenAI-compatible chat completions plus inspection routes.

- ``POST /v1/chat/completions`` — streaming and non-streaming, tools, usage, faults
- ``GET /v1/models`` — lists ``mock``
- ``GET /mock/requests`` — the ledger as a JSON list (filters: ``?request_id=``, ``?model=``)
- ``DELETE /mock/requests`` — clear the ledger
- ``GET /mock/stats`` — ``{"open_streams": n, "requests": n}``
- ``DELETE /mock/faults`` — reset the ``xK`` fault counters
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tokenwire.mock.ledger import MockLedger, RequestRecord
from tokenwire.mock.playback import completion_playback, stream_playback
from tokenwire.mock.profile import Fault, MockProfile, ProfileError, is_mock_model
from tokenwire.mock.script import write_script
from tokenwire.mock.streaming import MockResponse, quiet_deliberate_drops
from tokenwire.mock.wire import ChunkEncoder, completion_body, error_body

__all__ = ["create_mock_app", "run_mock_provider"]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def create_mock_app(default: MockProfile | None = None) -> Starlette:
    """An OpenAI-compatible mock provider; ``default`` applies where a request sets nothing.

    ``app.state.ledger`` is the :class:`MockLedger`; ``app.state.fault_counts`` counts
    requests per fault key for ``xK`` faults.
    """
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/mock/requests", requests, methods=["GET", "DELETE"]),
            Route("/mock/stats", stats, methods=["GET"]),
            Route("/mock/faults", reset_faults, methods=["DELETE"]),
        ]
    )
    quiet_deliberate_drops()
    app.state.ledger = MockLedger()
    app.state.default_profile = default or MockProfile()
    app.state.fault_counts = Counter[str]()
    return app


def run_mock_provider(host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve the mock provider with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_mock_app(), host=host, port=port, log_level="info")


async def chat_completions(request: Request) -> Response:
    ledger: MockLedger = request.app.state.ledger
    payload = _parse_body(await request.body())
    model = payload.get("model") if isinstance(payload, dict) else None
    stream = isinstance(payload, dict) and payload.get("stream") is True
    record = ledger.start(str(model or ""), stream, request.headers.get("x-request-id"))
    record.body = payload if isinstance(payload, dict) else None
    headers = {"x-request-id": record.request_id}
    if not isinstance(payload, dict) or not isinstance(model, str):
        return _error(ledger, record, 400, "request body must be a JSON object with a model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return _error(ledger, record, 400, "'messages' must be a list of objects")
    if not is_mock_model(model):
        return _error(ledger, record, 404, f"The model `{model}` does not exist.")
    try:
        profile = MockProfile.parse(model, request.headers, base=request.app.state.default_profile)
    except ProfileError as exc:
        return _error(ledger, record, 400, str(exc), code="invalid_mock_setting")
    record.fault = None if profile.fault is None else str(profile.fault)
    key = request.headers.get("x-mock-fault-key") or model
    fault = _active(profile.fault, key, request.app.state.fault_counts)
    if fault is not None and fault.kind == "status":
        return _error(ledger, record, fault.status, f"mock fault {fault}", code=None)

    script = write_script(payload, profile)
    completion_id = f"chatcmpl-{script.digest}{record.seq:06d}"
    created = int(time.time())
    if not stream:
        body = completion_body(script, completion_id, created, model)
        frames, length = completion_playback(
            body, script.completion_tokens, profile, fault, script.digest
        )
        headers["content-length"] = str(length)
        return MockResponse(
            frames,
            ledger=ledger,
            record=record,
            media_type="application/json",
            headers=headers,
            eager=False,
        )
    options = payload.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    encoder = ChunkEncoder(completion_id, created, model, include_usage)
    lead, reasoning, units = encoder.script(script)
    tail = [encoder.finish(script.finish_reason)]
    if include_usage:
        tail.append(encoder.usage(script.usage()))
    frames = stream_playback(lead, reasoning, units, tail, profile, fault, script.digest)
    return MockResponse(
        frames,
        ledger=ledger,
        record=record,
        media_type="text/event-stream",
        headers={**headers, **_SSE_HEADERS},
    )


async def list_models(request: Request) -> Response:
    model = {"id": "mock", "object": "model", "created": 0, "owned_by": "tokenwire"}
    return _json({"object": "list", "data": [model]})


async def requests(request: Request) -> Response:
    ledger: MockLedger = request.app.state.ledger
    if request.method == "DELETE":
        ledger.clear()
        return Response(status_code=204)
    records = ledger.records
    if request_id := request.query_params.get("request_id"):
        records = [r for r in records if r.request_id == request_id]
    if model := request.query_params.get("model"):
        records = [r for r in records if r.model == model]
    return _json([r.as_dict() for r in records])


async def stats(request: Request) -> Response:
    return _json(request.app.state.ledger.stats())


async def reset_faults(request: Request) -> Response:
    request.app.state.fault_counts.clear()
    return Response(status_code=204)


def _active(fault: Fault | None, key: str, counts: Counter[str]) -> Fault | None:
    """The fault if it applies to this request: always, or for the first ``times`` of ``key``."""
    if fault is None or fault.times is None:
        return fault
    seen = counts[key]
    counts[key] = seen + 1
    return fault if seen < fault.times else None


def _parse_body(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _error(
    ledger: MockLedger,
    record: RequestRecord,
    status: int,
    message: str,
    code: str | None = None,
) -> Response:
    ledger.finish(record, "error", status)
    headers = {"x-request-id": record.request_id}
    if status in (429, 503):
        headers["retry-after"] = "1"
    return Response(error_body(status, message, code), status, headers, "application/json")


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")
