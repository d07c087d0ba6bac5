"""Which exceptions are the network failing under a provider SDK, whatever HTTP client it uses.

The OpenAI SDK moved from ``httpx`` to its fork ``httpx2``; both raise their own, unrelated
exception trees. An error while reading a streamed body (the provider dropped the
connection mid-answer) reaches us unwrapped, as the client library's own class, so a check
for ``httpx.TransportError`` alone calls a dropped stream a bug in the user's chain. Every
known client's classes are collected here, once, for the retry policy and the failure map.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import httpx

__all__ = ["is_transport_error", "is_transport_timeout"]

#: HTTP client libraries provider SDKs are built on; the optional ones are looked up.
_OPTIONAL_CLIENTS = ("httpx2",)


def _clients() -> list[ModuleType]:
    found = [httpx]
    for name in _OPTIONAL_CLIENTS:
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return found


_TRANSPORT: tuple[type[BaseException], ...] = tuple(c.TransportError for c in _clients())
_TIMEOUT: tuple[type[BaseException], ...] = tuple(c.TimeoutException for c in _clients())


def is_transport_error(exc: BaseException) -> bool:
    """The connection failed, was refused, dropped or timed out (any known HTTP client)."""
    return isinstance(exc, _TRANSPORT)


def is_transport_timeout(exc: BaseException) -> bool:
    """The HTTP client gave up waiting (connect, read, write or pool)."""
    return isinstance(exc, _TIMEOUT)
