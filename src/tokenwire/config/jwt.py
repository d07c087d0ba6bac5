"""How JWTs are verified: ``TOKENWIRE_JWT_*`` variables or ``[auth]`` of ``tokenwire.toml``.

A model of its own (not part of :class:`~tokenwire.config.Settings`), because embedding
applications pass credentials to ``create_app`` themselves; ``tokenwire serve`` reads it, so
``TOKENWIRE_JWT_SECRET`` alone secures a served gateway.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from tokenwire.config.layered import LayeredSettings

__all__ = ["JWT_KEYS", "JwtSettings"]


class JwtSettings(LayeredSettings):
    #: HS256 shared secret (empty: no HS256 tokens); keep it out of the config file.
    jwt_secret: SecretStr = SecretStr("")
    #: When set, a token's ``iss`` must be this issuer.
    jwt_issuer: str = ""
    #: When set, a token's ``aud`` must name this audience.
    jwt_audience: str = ""
    #: Clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    jwt_leeway_seconds: float = Field(default=0.0, ge=0)
    #: The claim naming a token's department (e.g. ``department``, ``tenant``): what its
    #: metrics and cost are labelled with (``key_alias``). Empty, or a token without it: ``jwt``
    #: — never the subject, so the number of series does not grow with users.
    jwt_department_claim: str = ""


#: The ``[auth]`` keys that are :class:`JwtSettings` (the others are API keys and files).
JWT_KEYS = frozenset(JwtSettings.model_fields)
