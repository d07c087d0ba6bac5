"""Sticky assignment: which variant and which mode cohort a request is served by.

A request's place is a hash of its sticky value (the caller's key, a header, the thread)
and the route — BLAKE2b, never Python's salted ``hash()`` — so every replica, before and
after a restart, puts the same user in the same cohort. Each draw (variant, mode, shadow)
hashes with a salt of its own, so being in the canary says nothing about being batched.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from tokenwire.rollout.spec import STABLE

__all__ = ["Assignment", "bucket", "pick_variant", "request_headers", "sticky_value"]

#: The current request's headers (ASGI's raw pairs, names lower-case), set by the server's
#: middleware so that ``sticky = "header:<name>"`` can read them where runs start.
request_headers: ContextVar[Sequence[tuple[bytes, bytes]]] = ContextVar(
    "tokenwire_request_headers", default=()
)

#: Buckets per draw: a percent is honoured to 1/100 of a percent.
_BUCKETS = 10_000


@dataclass(frozen=True, slots=True)
class Assignment:
    """What a request was assigned: its ``variant`` (``stable`` or a canary's name), its
    mode ``cohort`` (``stream`` or ``batch``), and whether a shadow copy runs too."""

    variant: str = STABLE
    cohort: str = "stream"
    shadow: bool = False


def bucket(value: str, route: str, draw: str) -> float:
    """Where ``value`` falls in [0, 100) for ``draw`` on ``route`` — the same everywhere."""
    digest = hashlib.blake2b(f"{route}\x00{draw}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _BUCKETS * (100 / _BUCKETS)


def pick_variant(point: float, percents: Iterable[tuple[str, float]]) -> str:
    """The variant whose share holds ``point``; ``stable`` has what the others leave."""
    edge = 0.0
    for name, percent in percents:
        edge += percent
        if point < edge:
            return name
    return STABLE


def sticky_value(
    sticky: str, *, key: str | None, thread_id: str | None, headers: Mapping[str, str]
) -> str:
    """The value ``sticky`` keeps a user by. With none to go by (no header, no thread, an
    anonymous caller — which would put all traffic in one cohort), the request is drawn
    on its own, as with ``none``."""
    kind, _, name = sticky.partition(":")
    found: str | None = None
    if kind == "key":
        found = key
    elif kind == "thread":
        found = thread_id
    elif kind == "header":
        found = headers.get(name.lower())
    return found if found else secrets.token_hex(8)


def header_map(raw: Sequence[tuple[bytes, bytes]], wanted: str | None) -> dict[str, str]:
    """The one header ``wanted`` of the raw ASGI pairs (names are lower-case there)."""
    if wanted is None:
        return {}
    name = wanted.encode("latin-1")
    for header, value in raw:
        if header == name:
            return {wanted: value.decode("latin-1")}
    return {}
