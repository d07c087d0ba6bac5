"""CORS: which browser origins may call the gateway from their pages (``cors_origins``).

Starlette's ``CORSMiddleware``, with the exact origins configured and credentials allowed.
It answers preflights itself, before authentication (a preflight carries no credentials)
and before any route, so a preflight never starts or counts as a run; and it adds its
headers to every answer — refusals too, or a page could not read why it was refused.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware

__all__ = ["ALLOWED_HEADERS", "EXPOSED_HEADERS", "install_cors"]

#: What a page may send beside the safelisted headers: credentials, a resume cursor, a
#: start's idempotency key, the caller's trace.
ALLOWED_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Last-Event-ID",
    "Idempotency-Key",
    "traceparent",
    "tracestate",
)
#: The response headers a page may read: each names something the gateway sets.
EXPOSED_HEADERS = (
    "X-Run-Id",  # the run a stream or an OpenAI answer belongs to
    "Idempotent-Replayed",  # an Idempotency-Key replay
    "Retry-After",  # 429 and 503
    "X-Tokenwire-Ignored-Params",  # OpenAI parameters ignored (ignore_unsupported_params)
    "x-vercel-ai-ui-message-stream",  # the AI SDK's stream version
    "Content-Location",  # the LangGraph server API's run
    "Location",  # …and where to rejoin it
    "WWW-Authenticate",  # 401
)
_METHODS = ("GET", "POST", "PATCH", "DELETE")


def install_cors(app: Starlette, origins: Collection[str]) -> None:
    """Answer ``origins``' pages (exact ``scheme://host[:port]``); none: no CORS at all.
    Add it after auth's middleware, so it wraps auth."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=_METHODS,
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        expose_headers=EXPOSED_HEADERS,
    )
