"""API keys (stored as SHA-256 hashes, compared in constant time) and optional JWTs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenwire.security.principal import ANONYMOUS, TOKEN_LABEL, TOKEN_PREFIX, Principal, Role

__all__ = ["ApiKey", "Credentials", "InvalidCredentials", "hash_key"]


#: The longest department name a token may claim.
_DEPARTMENT_CHARS = 64


class InvalidCredentials(Exception):
    """The presented key or token is not valid (401)."""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key's configuration. ``key_sha256`` is the hex SHA-256 of the secret (``tokenwire``
    never needs the secret itself); limits are per key and optional."""

    alias: str
    key_sha256: str
    roles: frozenset[Role] = frozenset({Role.CLIENT})
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    tokens_per_minute: int | None = None
    #: Per-period budgets (see ``tokenwire.security.quotas``).
    token_budget: int | None = None
    cost_budget_usd: float | None = None
    budget_period: str = "day"
    #: What the key's metrics and cost are labelled with (``key_alias``) instead of its
    #: alias, so several keys add up to one department.
    department: str | None = None

    def __post_init__(self) -> None:
        if not self.alias or self.alias == ANONYMOUS.alias or self.alias.startswith(TOKEN_PREFIX):
            # Those name the caller without auth and JWT subjects: a key taking one would
            # own (and spend as) someone else.
            raise ValueError(
                f"key alias {self.alias!r} is reserved: aliases must not be empty, "
                f"{ANONYMOUS.alias!r} or start with {TOKEN_PREFIX!r}"
            )
        if self.department is not None and not self.department.strip():
            raise ValueError(f"key {self.alias!r}: department must not be empty")
        if self.budget_period not in ("hour", "day", "month"):
            raise ValueError(f"key {self.alias!r}: budget_period must be hour, day or month")

    def __repr__(self) -> str:  # never print even the hash in logs
        return f"ApiKey(alias={self.alias!r}, roles={sorted(self.roles)})"

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> ApiKey:
        spec = dict(spec)
        if "key" in spec:  # allowed for development configs; hashed at once
            spec["key_sha256"] = hash_key(spec.pop("key"))
        roles = frozenset(Role(r) for r in spec.pop("roles", ["client"]))
        return cls(roles=roles, **spec)


@dataclass
class Credentials:
    """The API keys and how JWTs are verified (an HS256 secret or an RS256 public key).

    ``jwt_issuer`` / ``jwt_audience``: when set, a token's ``iss`` must be the issuer and its
    ``aud`` must name the audience (a token without them is refused); ``exp`` is always
    required, checked with ``jwt_leeway_seconds`` of clock skew (also for ``nbf``/``iat``).
    ``jwt_department_claim``: the claim whose value is a token's department (what its
    metrics and cost are labelled with); a token without it, or none configured, is ``jwt``.
    """

    keys: list[ApiKey] = field(default_factory=list)
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_seconds: float = 0.0
    jwt_department_claim: str | None = None

    def __post_init__(self) -> None:
        if not self.jwt_leeway_seconds >= 0:
            raise ValueError("jwt_leeway_seconds must be >= 0")
        self._by_hash = {key.key_sha256: key for key in self.keys}

    def __repr__(self) -> str:  # the secret never, the public key only as "set"
        hidden = {"jwt_secret": self.jwt_secret, "jwt_public_key": self.jwt_public_key}
        shown = [f"keys={self.keys!r}"]
        shown += [f"{name}=<set>" for name, value in hidden.items() if value]
        shown += [
            f"{name}={value!r}"
            for name, value in (
                ("jwt_issuer", self.jwt_issuer),
                ("jwt_audience", self.jwt_audience),
                ("jwt_department_claim", self.jwt_department_claim),
            )
            if value is not None
        ]
        if self.jwt_leeway_seconds:
            shown.append(f"jwt_leeway_seconds={self.jwt_leeway_seconds!r}")
        return f"Credentials({', '.join(shown)})"

    @property
    def configured(self) -> bool:
        return bool(self.keys or self.jwt_secret or self.jwt_public_key)

    def labels(self) -> frozenset[str]:
        """Every ``key_alias`` label a caller of these credentials can have but a token's
        department (unknown until a token arrives): the keys', ``jwt`` when JWTs are on."""
        labels = {Principal(key.alias, key.roles, key.department).label for key in self.keys}
        if self.jwt_secret or self.jwt_public_key:
            labels.add(TOKEN_LABEL)
        return frozenset(labels)

    def key(self, alias: str) -> ApiKey | None:
        return next((k for k in self.keys if k.alias == alias), None)

    def authenticate(self, secret: str) -> Principal:
        """A principal for an API key or a JWT; raises ``InvalidCredentials``."""
        if secret.count(".") == 2 and (self.jwt_secret or self.jwt_public_key):
            return self._from_jwt(secret)
        digest = hash_key(secret)
        # Constant-time comparison against every key, so timing reveals nothing about
        # which stored hash is closest.
        match = None
        for stored in self._by_hash:
            if hmac.compare_digest(stored, digest):
                match = self._by_hash[stored]
        if match is None:
            raise InvalidCredentials("unknown API key")
        return Principal(match.alias, match.roles, match.department)

    def _from_jwt(self, token: str) -> Principal:
        import jwt

        key, algorithms = (
            (self.jwt_public_key, ["RS256"])
            if self.jwt_public_key
            else (self.jwt_secret, ["HS256"])
        )
        assert key is not None  # only called when a secret or public key is configured
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.jwt_audience,
                issuer=self.jwt_issuer,
                leeway=self.jwt_leeway_seconds,
                options={"require": ["exp", "sub"], "verify_aud": self.jwt_audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise InvalidCredentials(f"invalid token: {exc}") from None
        return Principal.of_token(
            _subject(claims["sub"]),
            _roles(claims.get("roles", ["client"])),
            self._department(claims),
        )

    def _department(self, claims: dict[str, Any]) -> str | None:
        """The token's department claim when it is a short name; else none (``jwt``): a
        claim holding anything else is no bounded group."""
        if not self.jwt_department_claim:
            return None
        value = claims.get(self.jwt_department_claim)
        if isinstance(value, str) and 0 < len(value.strip()) <= _DEPARTMENT_CHARS:
            return value.strip()
        return None


def _subject(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidCredentials("invalid token: sub must be a non-empty string")
    return value


def _roles(values: object) -> frozenset[Role]:
    """The roles a token claims; names of other systems' roles (a shared identity provider)
    are ignored, and a token claiming none of ours is a client."""
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidCredentials("invalid token: roles must be a list of role names")
    known = {role.value: role for role in Role}
    return frozenset(known[v] for v in values if v in known) or frozenset({Role.CLIENT})
