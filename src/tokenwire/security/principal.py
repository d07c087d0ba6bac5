"""The caller of a request, as authentication established it."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ANONYMOUS",
    "TOKEN_LABEL",
    "TOKEN_PREFIX",
    "UNAUTHENTICATED",
    "Principal",
    "Role",
    "current_principal",
]

#: What a JWT subject's alias starts with, so that ``sub: alice`` is never the key ``alice``
#: (no key alias may start with it).
TOKEN_PREFIX = "jwt:"
#: The metrics label of every JWT caller whose token names no department.
TOKEN_LABEL = "jwt"


class Role(StrEnum):
    CLIENT = "client"
    MODERATOR = "moderator"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """``alias`` is who the caller is, in one namespace for every kind of caller: an API
    key's alias as configured (``web``), ``jwt:<sub>`` for a JWT subject, ``anonymous``
    when nobody authenticated. Run ownership, idempotency keys, per-key limits and quotas
    and audit records all go by it (metrics by :attr:`label`); the secret itself never
    travels past authentication."""

    alias: str
    roles: frozenset[Role]
    #: The bounded group the caller belongs to (an API key's ``department``, a JWT's
    #: configured claim): what metrics and cost are attributed to. None: none configured.
    department: str | None = None

    @classmethod
    def of_token(
        cls, subject: str, roles: frozenset[Role], department: str | None = None
    ) -> Principal:
        return cls(TOKEN_PREFIX + subject, roles, department)

    @property
    def label(self) -> str:
        """What metrics and cost name the caller by (``key_alias``): its department, else
        an API key's alias (configured, so bounded) — never a token's subject, which would
        make one series per user: a token without a department is ``jwt``."""
        if self.department:
            return self.department
        return TOKEN_LABEL if self.alias.startswith(TOKEN_PREFIX) else self.alias

    def has(self, role: Role) -> bool:
        """Admins may do everything; moderators everything a client may (to watch and halt
        runs); auditors only read the audit trail."""
        if role in self.roles or Role.ADMIN in self.roles:
            return True
        return role is Role.CLIENT and Role.MODERATOR in self.roles

    def owns(self, owner: str | None) -> bool:
        """A client reads only its own runs; moderators and admins read any."""
        return owner is None or owner == self.alias or self.has(Role.MODERATOR)


#: The caller when auth is explicitly off (an ``AuthMiddleware`` without credentials): every
#: role.
ANONYMOUS = Principal("anonymous", frozenset(Role))

#: Nobody authenticated the caller: no role at all. A request has it unless tokenwire's auth
#: admitted it, so the routes of a gateway mounted without auth refuse it (fail closed);
#: code calling a ``Gateway`` directly still owns the runs it starts.
UNAUTHENTICATED = Principal("anonymous", frozenset())

#: Set by the auth middleware for the request being served; read where runs start.
current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "tokenwire_principal", default=UNAUTHENTICATED
)
