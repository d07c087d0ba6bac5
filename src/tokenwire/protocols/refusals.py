"""How every protocol answers a refused run: the one mapping of
:class:`~tokenwire.errors.RunRefused` to each front end's error format.

A refusal carries its status, code, detail and ``retry_after`` (:mod:`tokenwire.errors`);
here each protocol spells them, so the status codes agree across protocols:

========================  ======  =================================================
front end                 status  body
========================  ======  =================================================
native, AI SDK            as is   problem+json ``{type, title, status, detail}``
OpenAI                    422→400 ``{"error": {message, type, param, code}}``
LangServe                 as is   ``{"detail": errors or detail}``
WebSocket                 as is   ``nack`` with ``status``, ``code``, ``retry_after``
========================  ======  =================================================

Every HTTP answer with a ``retry_after`` has a ``Retry-After`` header (whole seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tokenwire.errors import RunRefused
from tokenwire.protocols.openai import error_body
from tokenwire.protocols.websocket import nack

__all__ = [
    "PROBLEM",
    "Refusal",
    "ai_sdk_refusal",
    "langserve_refusal",
    "native_refusal",
    "openai_refusal",
    "websocket_refusal",
]

PROBLEM = "application/problem+json"

#: The problem title of each refusal code.
_TITLES = {
    "unknown_route": "Unknown route",
    "invalid_request": "Invalid run request",
    "idempotency_conflict": "Idempotency-Key reused",
    "overloaded": "Too many live runs",
    "unavailable": "Runs unavailable",
    "rate_limited": "Too Many Requests",
    "unknown_thread": "Unknown thread",
    "thread_busy": "Thread busy",
}
#: OpenAI's error type by status (any other: ``invalid_request_error``).
_OPENAI_TYPES = {404: "invalid_request_error", 429: "rate_limit_error", 503: "server_error"}
#: OpenAI's own codes where it has one for the same refusal.
_OPENAI_CODES = {"unknown_route": "model_not_found", "rate_limited": "rate_limit_exceeded"}
#: The request field an OpenAI refusal points at.
_OPENAI_PARAMS = {"unknown_route": "model", "invalid_request": "messages"}


@dataclass(frozen=True, slots=True)
class Refusal:
    """A refusal as one HTTP protocol answers it, before the first byte."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


def native_refusal(refused: RunRefused) -> Refusal:
    """The native API's problem+json (``errors`` only when there are some)."""
    extra = {"errors": list(refused.errors)} if refused.errors else {}
    return _problem(refused, _title(refused), **extra)


def ai_sdk_refusal(refused: RunRefused) -> Refusal:
    """problem+json, always with ``errors`` (``useChat`` shows the detail as the error)."""
    title = "Invalid chat request" if refused.code == "invalid_request" else _title(refused)
    return _problem(refused, title, errors=list(refused.errors))


def openai_refusal(refused: RunRefused) -> Refusal:
    """OpenAI's error object: every client mistake is a 400, as 422 is not in its
    vocabulary; the SDK maps the status to its exception (``NotFoundError``, …)."""
    status = 400 if refused.status == 422 else refused.status
    body = error_body(
        refused.detail,
        _OPENAI_TYPES.get(status, "invalid_request_error"),
        _OPENAI_CODES.get(refused.code, refused.code),
        _OPENAI_PARAMS.get(refused.code),
    )
    return Refusal(status, body, _retry_after(refused))


def langserve_refusal(refused: RunRefused) -> Refusal:
    """LangServe's (FastAPI's) ``{"detail": ...}``: the list of errors, or the detail."""
    detail: Any = list(refused.errors) if refused.errors else refused.detail
    return Refusal(refused.status, {"detail": detail}, _retry_after(refused))


def websocket_refusal(op: str, id: Any, refused: RunRefused) -> str:
    """The ``nack`` of request ``id`` (its ``retry_after`` is what HTTP puts in the header)."""
    after = None if refused.retry_after is None else math.ceil(refused.retry_after)
    return nack(op, id, refused.status, refused.code, refused.detail, retry_after=after)


def _problem(refused: RunRefused, title: str, **extra: Any) -> Refusal:
    body = {
        "type": "about:blank",
        "title": title,
        "status": refused.status,
        "detail": refused.detail,
        **extra,
    }
    return Refusal(refused.status, body, _retry_after(refused), PROBLEM)


def _title(refused: RunRefused) -> str:
    return _TITLES.get(refused.code, "Refused")


def _retry_after(refused: RunRefused) -> dict[str, str]:
    if refused.retry_after is None:
        return {}
    return {"Retry-After": str(math.ceil(refused.retry_after))}
