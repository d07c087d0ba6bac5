"""Retries of one upstream before its first token: which errors, how long to wait, when to stop.

Only failures that say "try again" are retried — HTTP 408/429/5xx and connection errors —
and only while nothing has been delivered: once a token (or any event) went out, a retry
would repeat it, which is the mid-stream policy's decision, not this one's. Provider SDKs
are optional, so their errors are recognised by shape (``status_code``, class names).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tokenwire.reliability.transport import is_transport_error

__all__ = ["RetryPolicy", "is_transient", "retry_after"]

_TRANSIENT_STATUSES = frozenset({408, 409, 429})
_CONNECTION_ERRORS = frozenset({"APIConnectionError", "APITimeoutError"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry one upstream before its first token.

    >>> RetryPolicy(max_retries=2, base_delay=0.2, budget_seconds=5)

    The wait before retry ``n`` (0-based) is ``min(max_delay, base_delay * 2**n)`` with
    jitter (between half and all of it), and never less than the provider's
    ``Retry-After``. A retry that would start later than ``budget_seconds`` after the
    upstream's first attempt is not made: the run moves on to its fallback (or fails).
    The default retries nothing.
    """

    max_retries: int = 0
    base_delay: float = 0.25
    max_delay: float = 4.0
    budget_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry settings must not be negative")

    def backoff(
        self, retry: int, retry_after: float | None = None, rng: Callable[[], float] = random.random
    ) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0**retry)
        # Half fixed, half random: spreads clients apart but never retries instantly.
        delay = ceiling * (0.5 + 0.5 * rng())
        return delay if retry_after is None else max(delay, retry_after)

    def next_delay(self, retry: int, exc: BaseException, elapsed: float) -> float | None:
        """The wait before retrying after ``exc``, or ``None`` to stop retrying."""
        if retry >= self.max_retries or not is_transient(exc):
            return None
        delay = self.backoff(retry, retry_after(exc))
        if elapsed + delay > self.budget_seconds:
            return None
        return delay


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying: 408/409/429/5xx, a connection error or a transport error."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status in _TRANSIENT_STATUSES or status >= 500
    if is_transport_error(exc):
        return True
    return any(cls.__name__ in _CONNECTION_ERRORS for cls in type(exc).__mro__)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms`` / ``Retry-After``), if any."""
    headers: Any = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(float(millis) / 1000, 0.0)
        value = headers.get("retry-after")
    except (AttributeError, TypeError, ValueError):
        return None
    if value is None:
        return None
    return _parse_retry_after(str(value))


def _parse_retry_after(value: str) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
