"""Vercel AI SDK ``useChat`` endpoints (UI message stream v1).

- ``POST /v1/routes/{route}/ui-chat`` — the body ``useChat``'s ``DefaultChatTransport``
  sends (``{id, messages: [{id, role, parts}], trigger, messageId}``); the messages' text
  becomes the route's input via ``input_from_messages``; the response streams the run as
  UI message parts (:mod:`tokenwire.protocols.ai_sdk`).

  On a LangGraph graph route the chat is a thread: ``thread_id`` is the chat ``id``, the
  thread's checkpoint holds the conversation, so only the new turn (the messages after
  the last assistant message) is the input. A graph pausing for approval streams
  ``tool-approval-request`` parts; when ``useChat`` sends the answers back (the last
  message is the assistant's, with tool parts in state ``approval-responded``), they
  become the thread's approval decisions — approved → ``approve``, denied → ``reject``
  with the reason — and the thread resumes (as ``POST /v1/threads/{id}/approvals``); the
  resumed run streams as the continuation of that message.
- ``GET /v1/routes/{route}/ui-chat/{chat_id}/stream`` — the transport's
  ``reconnectToStream``: while the chat's latest run is live, replays it from its first
  event and follows it (the AI SDK treats a resumed stream as a replay of the whole
  message); ``204`` when the chat has no active stream. Chat ids are per client: the
  same id sent by another client is another chat.

Errors before streaming are problem+json with real status codes, which ``useChat``
surfaces as the error text.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from tokenwire.cluster.replica import Cluster
from tokenwire.errors import ClusterUnavailable, RunRefused
from tokenwire.gateway import Gateway
from tokenwire.protocols.ai_sdk import (
    HEADERS,
    UIMessageStreamEncoder,
    approval_decisions,
    messages_from_ui,
    new_turn,
)
from tokenwire.protocols.refusals import ai_sdk_refusal, native_refusal
from tokenwire.runs.inputs import input_from_messages
from tokenwire.runs.run import Run
from tokenwire.security.principal import current_principal
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem, refused
from tokenwire.server.sse import run_stream
from tokenwire.server.validation_api import validating_route
from tokenwire.threads import ThreadRequest

__all__ = ["ActiveChats", "create_ai_sdk_router"]


class UIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    role: Literal["system", "user", "assistant"]
    parts: list[dict[str, Any]] = Field(default_factory=list)


class UIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(
        max_length=200,
        pattern=r"\S",
        description="The chat id (resume key; a graph route's thread id).",
    )
    messages: list[UIMessage] = Field(min_length=1)
    trigger: str | None = None
    messageId: str | None = None


class ActiveChats:
    """(route, owner, chat id) → the chat's latest run id, for resuming; bounded, oldest
    forgotten first. A chat id is its client's own (``owner``: the caller's alias): another
    client sending the same id has another chat, so it can neither replace this chat's run
    nor resume it. With replicas sharing runs (``cluster``) the mapping is also kept in
    Redis, so the AI SDK's resume request may reach any replica."""

    def __init__(self, limit: int = 10_000, cluster: Cluster | None = None) -> None:
        self._limit = limit
        self._runs: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._cluster = cluster

    def set(self, route: str, owner: str, chat_id: str, run_id: str) -> None:
        chat = (route, owner, chat_id)
        self._runs[chat] = run_id
        self._runs.move_to_end(chat)
        while len(self._runs) > self._limit:
            self._runs.popitem(last=False)
        if self._cluster is not None:
            self._cluster.remember(self._key(*chat), run_id)

    async def get(self, route: str, owner: str, chat_id: str) -> str | None:
        chat = (route, owner, chat_id)
        if self._cluster is not None:
            # Redis first: the chat's latest turn may have run on another replica.
            run_id = await self._cluster.recall(self._key(*chat), patient=False)
            if run_id is not None:
                return run_id
        return self._runs.get(chat)

    @staticmethod
    def _key(route: str, owner: str, chat_id: str) -> str:
        # The lengths keep ("a:b", "c") apart from ("a", "b:c").
        return f"ui-chat:{len(route)}:{route}:{len(owner)}:{owner}:{chat_id}"


def _invalid(errors: list[str]) -> Response:
    return problem(422, "Invalid chat request", "; ".join(errors), errors=errors)


_SSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


def create_ai_sdk_router(gateway: Gateway) -> APIRouter:
    router = APIRouter(route_class=guarded(validating_route(_invalid), gateway), tags=["ai-sdk"])
    chats = ActiveChats(cluster=gateway.cluster)

    def stream(run: Run) -> Response:
        return run_stream(run, UIMessageStreamEncoder(), gateway.settings, headers=HEADERS)

    @router.post(
        "/v1/routes/{route}/ui-chat",
        responses={**_SSE, **{status: {} for status in (404, 422, 429, 503)}},
    )
    async def ui_chat(route: str, body: UIChatRequest) -> Response:
        ui = [m.model_dump() for m in body.messages]
        try:
            runnable = gateway.route(route).runnable
            value: Any = None
            thread = None
            if not gateway.threads.threaded(route):
                value = input_from_messages(runnable, messages_from_ui(ui))
            elif decisions := approval_decisions(ui):
                thread = ThreadRequest(body.id, decisions=decisions)
            else:
                value = input_from_messages(runnable, messages_from_ui(new_turn(ui)))
                thread = ThreadRequest(body.id)
            run, _ = await gateway.start_run(
                route,
                value,
                metadata={"protocol": "ai-sdk", "chat_id": body.id},
                thread=thread,
                protocol="ai_sdk",
            )
        except RunRefused as exc:
            return refused(ai_sdk_refusal(exc))
        chats.set(route, current_principal.get().alias, body.id, run.id)
        return stream(run)

    @router.get(
        "/v1/routes/{route}/ui-chat/{chat_id}/stream",
        status_code=200,
        responses={**_SSE, 204: {"description": "The chat has no active stream."}, 503: {}},
    )
    async def resume_chat(route: str, chat_id: str) -> Response:
        try:
            run_id = await chats.get(route, current_principal.get().alias, chat_id)
            # find_run checks ownership too: a chat id never leads to another client's run.
            run = await gateway.find_run(run_id) if run_id is not None else None
        except ClusterUnavailable as exc:
            return refused(native_refusal(exc))
        if run is None or run.done:
            return Response(status_code=204)
        return stream(run)

    return router
