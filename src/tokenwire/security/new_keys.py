"""Making an API key: a fresh secret, shown once, and the ``[auth] keys`` entry that admits it.

The gateway stores only ``key_sha256`` (:func:`~tokenwire.security.credentials.hash_key`,
the very function that checks a presented key), so the secret exists in the output of
``tokenwire keys create`` and nowhere else.

>>> issued = issue_key(KeyEntry("web", requests_per_minute=120))
>>> issued.secret.startswith(KEY_PREFIX), issued.entry.key_sha256 == hash_key(issued.secret)
(True, True)
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, field, replace

import orjson

from tokenwire.security.credentials import ApiKey, hash_key
from tokenwire.security.principal import Role

__all__ = ["KEY_PREFIX", "SECRET_BYTES", "IssuedKey", "KeyEntry", "issue_key"]

#: What every key ``tokenwire keys create`` makes starts with, so that one pasted into a
#: chat or a commit is recognisable (and a secret scanner can be taught it).
KEY_PREFIX = "tw_"
#: Random bytes in a key: 256 bits, as ``secrets.token_urlsafe`` recommends for secrets.
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One ``[auth] keys`` entry but its hash: every field an :class:`ApiKey` has."""

    alias: str
    roles: tuple[Role, ...] = (Role.CLIENT,)
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    tokens_per_minute: int | None = None
    token_budget: int | None = None
    cost_budget_usd: float | None = None
    budget_period: str | None = None
    department: str | None = None
    key_sha256: str = field(default="", repr=False)

    def api_key(self) -> ApiKey:
        """The key as the gateway will load it (which also checks the entry's rules)."""
        values = {k: v for k, v in asdict(self).items() if v is not None and k != "roles"}
        return ApiKey(roles=frozenset(self.roles), **values)

    def toml(self) -> str:
        """The entry as one inline table for ``keys = [ ... ]`` under ``[auth]``."""
        pairs = [f"alias = {_toml(self.alias)}", f"key_sha256 = {_toml(self.key_sha256)}"]
        pairs.append(f"roles = [{', '.join(_toml(role.value) for role in self.roles)}]")
        for name, value in asdict(self).items():
            if name not in ("alias", "key_sha256", "roles") and value is not None:
                pairs.append(f"{name} = {_toml(value)}")
        return "{ " + ", ".join(pairs) + " }"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key: ``secret`` is what the client sends; ``entry`` what the gateway keeps."""

    secret: str = field(repr=False)
    entry: KeyEntry


def issue_key(entry: KeyEntry) -> IssuedKey:
    """A fresh random key for ``entry``; raises ``ValueError`` for an entry the gateway
    would refuse (a reserved alias, an empty department, an unknown budget period)."""
    secret = KEY_PREFIX + secrets.token_urlsafe(SECRET_BYTES)
    entry = replace(entry, key_sha256=hash_key(secret))
    entry.api_key()
    return IssuedKey(secret, entry)


def _toml(value: object) -> str:
    """A TOML literal of a string, integer or finite float (JSON's string escapes are
    TOML's basic-string escapes)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"no TOML literal for {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return orjson.dumps(value).decode()
