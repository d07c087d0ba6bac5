"""OpenAI Responses API: ``POST /v1/responses``, streaming or not.

``model`` names a route. The request is translated to Chat Completions terms
(:mod:`tokenwire.protocols.openai_responses_input`) and runs as a Chat Completions request
would: the same input mapping, the same parameter binding and refusals, the same errors
(OpenAI error objects). Responses are not stored: ``previous_response_id`` is refused
(a thread is how a conversation is kept), and there is no ``GET /v1/responses/{id}``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse, Response

from tokenwire.errors import RunRefused
from tokenwire.gateway import Gateway
from tokenwire.protocols.openai_messages import chat_messages
from tokenwire.protocols.openai_params import bind_params
from tokenwire.protocols.openai_responses import ResponsesEncoder, response_object
from tokenwire.protocols.openai_responses_input import translate_request
from tokenwire.protocols.refusals import openai_refusal
from tokenwire.protocols.subscription import ClientGone, collect_run, wait_for_disconnect
from tokenwire.runs.inputs import input_from_messages
from tokenwire.server.guard import guarded
from tokenwire.server.openai_api import IGNORED_HEADER, invalid_body, openai_errors, unsupported
from tokenwire.server.problems import refused
from tokenwire.server.sse import run_stream
from tokenwire.server.validation_api import validating_route

__all__ = ["ResponsesRequest", "create_responses_router"]

#: What a response repeats of its request (as OpenAI's does).
_ECHOED = ("instructions", "metadata", "temperature", "top_p", "max_output_tokens", "user")


class _Item(BaseModel):
    # Items returned by a response carry more (``id``, ``status``): sent back, kept out.
    model_config = ConfigDict(extra="allow")


class TextPart(_Item):
    type: Literal["input_text", "output_text", "text"]
    text: str


class MessageItem(_Item):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[TextPart]


class FunctionCallItem(_Item):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str


class FunctionCallOutputItem(_Item):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[TextPart]


class FunctionTool(_Item):
    type: Literal["function"]
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolChoiceFunction(BaseModel):
    type: Literal["function"]
    name: str


class TextFormat(_Item):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None


class TextConfig(_Item):
    format: TextFormat | None = None


class ResponsesRequest(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    model: str = Field(description="The route to run.")
    input: (
        str
        | Annotated[
            list[MessageItem | FunctionCallItem | FunctionCallOutputItem], Field(min_length=1)
        ]
    ) = Field(description="A string, or a list of items.")
    instructions: str | None = None
    stream: bool = False
    user: str | None = Field(default=None, description="The run's attribution user.")
    max_output_tokens: int | None = Field(default=None, ge=1, description="An output budget.")
    tools: list[FunctionTool] | None = Field(default=None, description="Function tools only.")
    tool_choice: Literal["auto", "none", "required"] | ToolChoiceFunction | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    metadata: dict[str, str] | None = None
    text: TextConfig | None = None
    store: bool | None = None


def _echo(body: ResponsesRequest) -> dict[str, Any]:
    sent = body.model_dump(exclude_none=True, by_alias=True)
    echoed = (*_ECHOED, "tools", "tool_choice", "parallel_tool_calls")
    return {k: sent[k] for k in echoed if k in sent}


def create_responses_router(gateway: Gateway) -> APIRouter:
    """``POST /v1/responses``, to mount next to ``create_openai_router(gateway)``."""
    route_class = guarded(validating_route(invalid_body), gateway)
    router = APIRouter(route_class=route_class, tags=["openai"])

    @router.post(
        "/v1/responses",
        responses={200: {"content": {"text/event-stream": {}}}, **openai_errors},
    )
    async def create_response(
        body: ResponsesRequest,
        request: Request,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        metadata = {"protocol": "openai", **({"user": body.user} if body.user else {})}
        headers: dict[str, str] = {}
        try:
            translated = translate_request(body.model_dump(exclude_unset=True, by_alias=True))
            route = gateway.route(body.model)
            binding = bind_params(route.runnable, translated.params)
            skipped = {**translated.unsupported, **binding.unsupported}
            if skipped:
                if not gateway.settings.ignore_unsupported_params:
                    return unsupported(skipped)
                headers[IGNORED_HEADER] = ",".join(skipped)
            chat_input = input_from_messages(route.runnable, chat_messages(translated.messages))
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
            encoder = ResponsesEncoder(run.id, body.model, _echo(body))
            return run_stream(run, encoder, gateway.settings, headers=headers)
        try:
            events = await collect_run(run, lambda: wait_for_disconnect(request.receive))
        except ClientGone:
            return Response(status_code=499)
        status, payload = response_object(run.id, body.model, events, _echo(body))
        return JSONResponse(payload, status_code=status, headers={"X-Run-Id": run.id, **headers})

    return router
