"""OpenAI-compatible HTTP API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

``model`` names a route; ``messages`` become the route's input through
:func:`~tokenwire.runs.inputs.input_from_messages`. Sampling parameters (``temperature``,
``max_tokens``, …) are accepted and ignored: the route's runnable decides them. Errors
before streaming are OpenAI error objects with the status the SDK maps to the right
exception (400 ``BadRequestError``, 404 ``NotFoundError``, 503 ``InternalServerError``).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from tokenwire.errors import RunRefused
from tokenwire.gateway import Gateway
from tokenwire.protocols.openai import ChatCompletionEncoder, chat_completion, error_body
from tokenwire.protocols.refusals import openai_refusal
from tokenwire.protocols.subscription import (
    ClientGone,
    collect_run,
    wait_for_disconnect,
)
from tokenwire.runs.inputs import input_from_messages
from tokenwire.server.guard import guarded
from tokenwire.server.problems import refused
from tokenwire.server.sse import run_stream
from tokenwire.server.validation_api import validating_route

__all__ = ["ChatCompletionRequest", "create_openai_router"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(description="The route to run.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    user: str | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int]
    system_fingerprint: None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class OpenAIError(BaseModel):
    error: dict[str, Any]


def _error(status: int, message: str, type: str, code: str, param: str | None = None) -> Response:
    return JSONResponse(error_body(message, type, code, param), status_code=status)


def _invalid(errors: list[str]) -> Response:
    return _error(400, "; ".join(errors), "invalid_request_error", "invalid_request")


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError} for code in (400, 404, 429, 500, 502, 503)
}


def create_openai_router(gateway: Gateway) -> APIRouter:
    """The OpenAI-compatible endpoints, to mount next to ``create_router(gateway)``."""
    router = APIRouter(route_class=guarded(validating_route(_invalid), gateway), tags=["openai"])
    started = int(time.time())

    @router.get("/v1/models", response_model=ModelList)
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": started, "owned_by": "tokenwire"}
                for name in gateway.routes
            ],
        }

    @router.get("/v1/models/{model}", response_model=ModelCard, responses={404: _ERRORS[404]})
    async def retrieve_model(model: str) -> Response:
        if model not in gateway.routes:
            message = f"no route named {model!r}"
            return _error(404, message, "invalid_request_error", "model_not_found", "model")
        card = {"id": model, "object": "model", "created": started, "owned_by": "tokenwire"}
        return JSONResponse(card)

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={200: {"content": {"text/event-stream": {}}}, **_ERRORS},
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        messages = [m.model_dump(exclude_none=True) for m in body.messages]
        metadata = {"protocol": "openai", **({"user": body.user} if body.user else {})}
        try:
            route = gateway.route(body.model)
            run, _ = await gateway.start_run(
                body.model,
                input_from_messages(route.runnable, messages),
                metadata=metadata,
                idempotency_key=idempotency_key,
                protocol="openai",
            )
        except RunRefused as exc:
            return refused(openai_refusal(exc))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            encoder = ChatCompletionEncoder(run.id, body.model, include_usage=include_usage)
            return run_stream(run, encoder, gateway.settings)
        try:
            events = await collect_run(run, lambda: wait_for_disconnect(request.receive))
        except ClientGone:
            return Response(status_code=499)
        status, payload = chat_completion(run.id, body.model, events)
        return JSONResponse(payload, status_code=status, headers={"X-Run-Id": run.id})

    return router
