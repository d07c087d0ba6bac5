"""Authentication, roles, run ownership and the request rate for every request — one ASGI
layer. The limits on starting runs are checked where every protocol starts one
(:mod:`tokenwire.security.key_limits`).

Credentials: ``Authorization: Bearer <key or JWT>`` or ``X-API-Key``; WebSockets may also
pass ``?api_key=`` (browsers cannot set headers on a WebSocket), and a run's SSE stream a
stream token as ``?token=`` (:mod:`tokenwire.security.stream_tokens`, for ``EventSource``).
Refusals happen before anything runs: 401 (no or bad credentials), 403 (role or someone
else's run), 429 with ``Retry-After`` (rate limits) — as problem+json (on the
OpenAI-compatible API, OpenAI's error object ``{"error": {message, type, code, param}}``),
or a WebSocket close before accept.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.errors import RateLimited
from tokenwire.runs.registry import RunRegistry
from tokenwire.security.access import PUBLIC, RUN_PATH, STREAM_PATH, app_path, required_roles
from tokenwire.security.credentials import Credentials, InvalidCredentials
from tokenwire.security.limits import RateLimiter
from tokenwire.security.principal import ANONYMOUS, Principal, current_principal
from tokenwire.security.stream_tokens import StreamTokens

__all__ = ["NO_CREDENTIALS", "AuthMiddleware", "Refused"]

log = logging.getLogger("tokenwire.security")


NO_CREDENTIALS = (
    "no API keys are configured: this gateway can admit nobody; configure keys "
    "(Credentials(keys=[ApiKey(...)]), or [auth] keys in tokenwire.toml: see `tokenwire keys "
    'create`) or a JWT secret, or set auth = "none" (development only)'
)


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str, retry_after: int | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.retry_after = status, title, detail, retry_after


class AuthMiddleware:
    """``registry``: this process's runs, whose owners the middleware checks."""

    def __init__(
        self,
        app: ASGIApp,
        registry: RunRegistry,
        credentials: Credentials | None,
        limiter: RateLimiter | None = None,
        stream_tokens: StreamTokens | None = None,
    ) -> None:
        self.app = app
        self.registry = registry
        self.credentials = credentials  # None: auth explicitly off
        self.limiter = limiter or RateLimiter()
        #: What ``?token=`` on a run's stream is checked with (None: refused).
        self.stream_tokens = stream_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or PUBLIC.match(app_path(scope)):
            # Public paths need no principal: they keep the default, which has no role.
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._admit(scope)
        except Refused as refusal:
            await _refuse(scope, send, refusal)
            return
        token = current_principal.set(principal)
        try:
            await self.app(scope, receive, send)
        finally:
            current_principal.reset(token)

    async def _admit(self, scope: Scope) -> Principal:
        if self.credentials is None:  # auth explicitly off
            return ANONYMOUS
        if not self.credentials.configured:
            # Every key would be refused: say why, rather than blame the caller's key.
            raise Refused(401, "Unauthorized", NO_CREDENTIALS)
        path = app_path(scope)
        try:
            principal = self._authenticate(scope, path, self.credentials)
        except InvalidCredentials as exc:
            raise Refused(401, "Unauthorized", str(exc)) from None
        roles = required_roles(path)
        if not any(principal.has(role) for role in roles):
            needed = " or ".join(role.value for role in roles)
            raise Refused(403, "Forbidden", f"this needs the {needed} role")
        self._check_run_owner(path, principal)
        await self._check_rate(principal)
        return principal

    def _authenticate(self, scope: Scope, path: str, credentials: Credentials) -> Principal:
        secret = _secret(scope)
        if secret is not None:
            return credentials.authenticate(secret)
        token = _stream_token(scope)
        if token is None:
            raise InvalidCredentials("send an API key: Authorization: Bearer <key>")
        stream = STREAM_PATH.match(path)
        if stream is None or scope.get("method") != "GET":
            raise InvalidCredentials(
                "a stream token is accepted only on its run's stream: "
                "GET /v1/runs/{run_id}/stream?token=..."
            )
        if self.stream_tokens is None:
            raise InvalidCredentials("stream tokens are not accepted here")
        return self.stream_tokens.verify(token, stream["run_id"])

    def _check_run_owner(self, path: str, principal: Principal) -> None:
        match = RUN_PATH.match(path)
        if match is None:
            return
        # The registry itself: ``Gateway.get_run`` answers for the request's principal,
        # which is not set yet.
        run = self.registry.get(match["run_id"])
        if run is not None and not principal.owns(run.owner):
            raise Refused(403, "Forbidden", "this run belongs to another client")

    async def _check_rate(self, principal: Principal) -> None:
        assert self.credentials is not None
        key = self.credentials.key(principal.alias)
        if key is None:  # JWT subjects have no per-key limits configured
            return
        try:
            await self.limiter.check_request(key)
        except RateLimited as exc:
            retry_after = None if exc.retry_after is None else math.ceil(exc.retry_after)
            raise Refused(429, "Too Many Requests", exc.detail, retry_after) from None
        except Exception:
            # The shared counters (Redis) are unreachable: serve rather than fail every
            # request; the outage itself is reported by /readyz and this log.
            log.warning("rate limits not checked: their store failed", exc_info=True)


def _secret(scope: Scope) -> str | None:
    headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    api_key = headers.get(b"x-api-key")
    if api_key:
        return api_key.decode("latin-1").strip()
    if scope["type"] == "websocket":
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("api_key") or query.get("token")
        if values:
            return str(values[0])
    return None


def _stream_token(scope: Scope) -> str | None:
    """``?token=`` of an HTTP request (a WebSocket's is its API key, see :func:`_secret`)."""
    if scope["type"] != "http":
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return values[0] if values else None


#: The OpenAI-compatible API, whose clients read OpenAI's error object (the SDK shows its
#: ``message``), not problem+json.
OPENAI_PATH = re.compile(r"^/v1/(chat/completions|models)(/|$)")
#: OpenAI's ``type`` and ``code`` for each refusal status.
_OPENAI_ERRORS = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _openai_error(refusal: Refused) -> dict[str, Any]:
    kind, code = _OPENAI_ERRORS.get(refusal.status, ("invalid_request_error", "refused"))
    return {"error": {"message": refusal.detail, "type": kind, "code": code, "param": None}}


async def _refuse(scope: Scope, send: Send, refusal: Refused) -> None:
    if scope["type"] == "websocket":
        # Closing before accept makes the server answer the handshake with 403.
        await send({"type": "websocket.close", "code": 4000 + refusal.status})
        return
    if OPENAI_PATH.match(app_path(scope)):
        body, media = orjson.dumps(_openai_error(refusal)), b"application/json"
    else:
        body = orjson.dumps(
            {"type": "about:blank", "title": refusal.title, "status": refusal.status,
             "detail": refusal.detail}
        )  # fmt: skip
        media = b"application/problem+json"
    headers = [(b"content-type", media)]
    if refusal.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tokenwire"'))
    if refusal.retry_after is not None:
        headers.append((b"retry-after", str(refusal.retry_after).encode()))
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
