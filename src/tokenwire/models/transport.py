"""The ``openai`` SDK's HTTP library's errors and body draining, as the SDK itself sees them.

``openai>=3`` runs on ``httpx2`` (``openai<3`` on ``httpx``); the SDK maps that library's
timeouts to ``APITimeoutError`` and its request errors to ``APIConnectionError`` while it
reads a stream, and so does the lean path, with the SDK's own lists where it has them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

__all__ = ["drain_async", "request_errors", "timeout_errors"]

#: How long to read what follows ``[DONE]`` so an HTTP/1.1 connection can be reused.
DRAIN_SECONDS = 1.0


def timeout_errors() -> tuple[type[BaseException], ...]:
    try:
        from openai._httpx2 import timeout_exceptions
    except ImportError:  # openai<3: plain httpx
        return (httpx.TimeoutException,)
    return tuple(timeout_exceptions())


def request_errors() -> tuple[type[BaseException], ...]:
    try:
        from openai._httpx2 import request_exceptions
    except ImportError:
        return (httpx.RequestError,)
    return tuple(request_exceptions())


async def drain_async(reads: AsyncIterator[bytes]) -> None:
    """Read the rest of a body (bounded), never turning a finished reply into an error."""
    with contextlib.suppress(TimeoutError, *request_errors()):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in reads:
                pass
