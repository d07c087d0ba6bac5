"""OpenAI-compatible HTTP API: ``POST /v1/chat/completions`` and ``GET /v1/models``.

``model`` names a route; ``messages`` (every shape OpenAI accepts:
:mod:`tokenwire.protocols.openai_messages`) become the route's input through
:func:`~tokenwire.runs.inputs.input_from_messages`. The request's parameters are bound to
the route's chat model or refused with a 400 naming them
(:mod:`tokenwire.protocols.openai_params`; ``docs/openai.md``). Errors before streaming
are OpenAI error objects with the status the SDK maps to the right exception (400
``BadRequestError``, 404 ``NotFoundError``, 503 ``InternalServerError``).
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
from tokenwire.protocols.openai_messages import chat_messages
from tokenwire.protocols.openai_params import bind_params
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

__all__ = [
    "IGNORED_HEADER",
    "ChatCompletionRequest",
    "create_openai_router",
    "invalid_body",
    "openai_errors",
    "unsupported",
]

#: Names the parameters a request sent that were ignored (``ignore_unsupported_params``).
IGNORED_HEADER = "X-Tokenwire-Ignored-Params"
#: Request fields that are not parameters of the run.
_NOT_PARAMS = {"model", "messages"}


class ChatMessage(BaseModel):
    """One of OpenAI's message objects (what each role needs is checked after this:
    :mod:`tokenwire.protocols.openai_messages`)."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    # Other fields are read (so ``ignore_unsupported_params`` can ignore them), but by
    # default they are a 400: the schema says so.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    model: str = Field(description="The route to run.")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1, description="Only one choice is supported.")
    user: str | None = Field(default=None, description="The run's attribution user.")
    max_tokens: int | None = Field(default=None, ge=1, description="A per-run output budget.")
    max_completion_tokens: int | None = Field(default=None, ge=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None


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


def unsupported(unsupported: dict[str, str]) -> Response:
    """OpenAI's answer to a parameter it does not take: a 400 naming the first."""
    names = ", ".join(unsupported)
    reasons = "; ".join(f"{name}: {why}" for name, why in unsupported.items())
    message = f"unsupported parameter(s) {names} ({reasons}); set ignore_unsupported_params"
    param = next(iter(unsupported))
    return _error(400, message, "invalid_request_error", "unsupported_parameter", param)


def invalid_body(errors: list[str]) -> Response:
    """A body that does not fit the schema; ``param`` is the first offending field, as
    OpenAI names it (``body.messages.1.tool_calls: ...`` → ``messages``)."""
    where = errors[0].split(":", 1)[0].split(".") if errors else []
    param = where[1] if len(where) > 1 and where[0] == "body" else None
    return _error(400, "; ".join(errors), "invalid_request_error", "invalid_request", param)


openai_errors: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError} for code in (400, 404, 429, 500, 502, 503)
}


def _dumped(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The messages as sent (an explicit ``content: null`` included)."""
    return [m.model_dump(exclude_unset=True) for m in messages]


def create_openai_router(gateway: Gateway) -> APIRouter:
    """The OpenAI-compatible endpoints, to mount next to ``create_router(gateway)``."""
    route_class = guarded(validating_route(invalid_body), gateway)
    router = APIRouter(route_class=route_class, tags=["openai"])
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

    @router.get("/v1/models/{model}", response_model=ModelCard, responses={404: openai_errors[404]})
    async def retrieve_model(model: str) -> Response:
        if model not in gateway.routes:
            message = f"no route named {model!r}"
            return _error(404, message, "invalid_request_error", "model_not_found", "model")
        card = {"id": model, "object": "model", "created": started, "owned_by": "tokenwire"}
        return JSONResponse(card)

    @router.post(
        "/v1/chat/completions",
        response_model=ChatCompletion,
        responses={200: {"content": {"text/event-stream": {}}}, **openai_errors},
    )
    async def chat_completions(
        body: ChatCompletionRequest,
        request: Request,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        metadata = {"protocol": "openai", **({"user": body.user} if body.user else {})}
        headers: dict[str, str] = {}
        try:
            route = gateway.route(body.model)
            binding = bind_params(route.runnable, body.model_dump(exclude=_NOT_PARAMS))
            if binding.unsupported:
                if not gateway.settings.ignore_unsupported_params:
                    return unsupported(binding.unsupported)
                headers[IGNORED_HEADER] = ",".join(binding.unsupported)
            chat_input = input_from_messages(route.runnable, chat_messages(_dumped(body.messages)))
            run, _ = await gateway.start_run(
                body.model,
                chat_input,
                metadata=metadata,
                idempotency_key=idempotency_key,
                protocol="openai",
                options=binding.options,
            )
        except RunRefused as exc:
            return refused(openai_refusal(exc))
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            encoder = ChatCompletionEncoder(run.id, body.model, include_usage=include_usage)
            return run_stream(run, encoder, gateway.settings, headers=headers)
        try:
            events = await collect_run(run, lambda: wait_for_disconnect(request.receive))
        except ClientGone:
            return Response(status_code=499)
        status, payload = chat_completion(run.id, body.model, events)
        return JSONResponse(payload, status_code=status, headers={"X-Run-Id": run.id, **headers})

    return router
