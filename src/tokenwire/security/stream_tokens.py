"""Stream tokens: short-lived signed grants to read one run's stream, for ``EventSource``.

A browser's ``EventSource`` cannot send headers, so it cannot send an API key. An
authenticated client asks ``POST /v1/runs/{id}/stream-token`` for a token and opens
``GET /v1/runs/{id}/stream?token=...``; the token reads that run's stream only, for
``stream_token_ttl_seconds``, as the principal that asked for it.

A token is ``tw1.<payload>.<signature>``: the payload (url-safe base64 JSON) names the
run, the caller's alias and the expiry (a JWT subject's roles and department too: there is
no configuration to read them back from); the signature is HMAC-SHA256 under
``stream_token_secret`` over the payload and, for an API key, the key's stored hash. So a
token dies with its key — removed, or its secret rotated under the same alias — and every
replica holding the secret verifies what any other issued.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from tokenwire.config import Settings
from tokenwire.security.credentials import Credentials, InvalidCredentials
from tokenwire.security.principal import TOKEN_PREFIX, Principal, Role

__all__ = ["InvalidStreamToken", "StreamToken", "StreamTokens", "StreamTokensUnavailable"]

_VERSION = "tw1"
#: Signed before every payload, so no other HMAC under the same secret can pass as one.
_CONTEXT = b"tokenwire stream token v1\x00"
_ROLES = {role.value: role for role in Role}


class InvalidStreamToken(InvalidCredentials):
    """A stream token that does not admit this request (401); the message says why."""


class StreamTokensUnavailable(Exception):
    """This gateway cannot issue stream tokens (503); the message says what to configure."""


@dataclass(frozen=True, slots=True)
class StreamToken:
    """An issued token: ``expires_at`` is a Unix time (seconds)."""

    token: str
    run_id: str
    expires_at: int

    def __repr__(self) -> str:  # a bearer grant: never in logs
        return f"StreamToken(run_id={self.run_id!r}, expires_at={self.expires_at})"

    @property
    def expires_at_iso(self) -> str:
        moment = datetime.fromtimestamp(self.expires_at, UTC)
        return moment.isoformat().replace("+00:00", "Z")


class StreamTokens:
    """Issues and verifies stream tokens for ``credentials``' callers.

    ``secret`` None: tokens are refused with ``unavailable`` as the reason. ``clock``: the
    wall clock (Unix seconds) expiries are on; tests pass their own.
    """

    def __init__(
        self,
        secret: bytes | None,
        credentials: Credentials,
        *,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        unavailable: str = "stream tokens are not configured",
    ) -> None:
        self._secret = secret
        self._credentials = credentials
        self._ttl = ttl_seconds
        self._clock = clock
        self._unavailable = unavailable

    def __repr__(self) -> str:
        return f"StreamTokens(ttl_seconds={self._ttl!r}, enabled={self._secret is not None})"

    @classmethod
    def from_settings(cls, settings: Settings, credentials: Credentials) -> StreamTokens:
        """Signed with ``stream_token_secret``; without it, with a random key of this
        process's — unless replicas share runs (``redis_url``), where a token issued by one
        replica must verify on any other."""
        configured = settings.stream_token_secret.get_secret_value()
        secret: bytes | None = configured.encode() if configured else None
        if secret is None and not settings.redis_url.get_secret_value():
            secret = secrets.token_bytes(32)
        return cls(
            secret,
            credentials,
            ttl_seconds=settings.stream_token_ttl_seconds,
            unavailable="set stream_token_secret (the same on every replica) to issue stream "
            "tokens: replicas sharing runs through Redis must verify each other's tokens",
        )

    def issue(self, run_id: str, principal: Principal) -> StreamToken:
        """A token for ``principal`` — already allowed to read the run — on ``run_id``."""
        if self._secret is None:
            raise StreamTokensUnavailable(self._unavailable)
        expires_at = int(self._clock() + self._ttl)
        claims: dict[str, Any] = {"r": run_id, "s": principal.alias, "e": expires_at}
        if principal.alias.startswith(TOKEN_PREFIX):
            claims["o"] = sorted(role.value for role in principal.roles)
            if principal.department is not None:
                claims["d"] = principal.department
        payload = _b64(orjson.dumps(claims))
        # No binding: the caller is no key (auth off), and no middleware will verify it.
        binding = self._binding(principal.alias) or b""
        signature = _b64(self._sign(self._secret, payload, binding))
        return StreamToken(f"{_VERSION}.{payload}.{signature}", run_id, expires_at)

    def verify(self, token: str, run_id: str) -> Principal:
        """The principal ``token`` reads ``run_id``'s stream as; raises
        :class:`InvalidStreamToken` saying why not."""
        if self._secret is None:
            raise InvalidStreamToken(f"stream tokens are not accepted here: {self._unavailable}")
        payload, signature, claims = _parse(token)
        alias = claims["s"]
        binding = self._binding(alias)
        if binding is None:
            raise InvalidStreamToken("the API key this stream token was issued to is gone")
        expected = self._sign(self._secret, payload, binding)
        if not hmac.compare_digest(expected, signature):
            raise InvalidStreamToken(
                "invalid stream token: its signature does not match (altered, signed with "
                "another stream_token_secret, or its API key changed)"
            )
        if claims["r"] != run_id:
            raise InvalidStreamToken("this stream token is for another run")
        if self._clock() >= claims["e"]:
            expired = datetime.fromtimestamp(claims["e"], UTC).isoformat()
            raise InvalidStreamToken(
                f"the stream token expired at {expired}: ask for a new one "
                f"(POST /v1/runs/{run_id}/stream-token)"
            )
        return self._principal(alias, claims)

    def _binding(self, alias: str) -> bytes | None:
        """What the signature binds besides the payload: an API key's stored hash, so the
        token dies with the key; nothing for a JWT subject (None: no such key now)."""
        if alias.startswith(TOKEN_PREFIX):
            return b""
        key = self._credentials.key(alias)
        return None if key is None else key.key_sha256.encode()

    def _principal(self, alias: str, claims: dict[str, Any]) -> Principal:
        key = self._credentials.key(alias)
        if key is not None:  # the key's roles as configured now, not when it was issued
            return Principal(key.alias, key.roles, key.department)
        roles = frozenset(_ROLES[value] for value in claims.get("o", ()) if value in _ROLES)
        return Principal(alias, roles, claims.get("d"))

    @staticmethod
    def _sign(secret: bytes, payload: str, binding: bytes) -> bytes:
        message = _CONTEXT + payload.encode() + b"\x00" + binding
        return hmac.new(secret, message, hashlib.sha256).digest()


def _parse(token: str) -> tuple[str, bytes, dict[str, Any]]:
    """The payload as sent, the signature's bytes and the claims; the claims' shape is
    checked here, their truth by the signature."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise InvalidStreamToken("malformed stream token")
    try:
        claims = orjson.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidStreamToken("malformed stream token") from None
    if not (
        isinstance(claims, dict)
        and isinstance(claims.get("r"), str)
        and isinstance(claims.get("s"), str)
        and type(claims.get("e")) is int
    ):
        raise InvalidStreamToken("malformed stream token")
    return parts[1], signature, claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
