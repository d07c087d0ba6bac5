"""Map an exception raised while running to a typed, client-safe ``error`` event.

Provider SDKs are optional dependencies, so their errors are recognised by shape
(``status_code``, class name) rather than imported here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx

from tokenwire.events import ErrorCode

__all__ = ["Failure", "describe_failure"]

log = logging.getLogger("tokenwire.runs")


@dataclass(frozen=True, slots=True)
class Failure:
    code: ErrorCode
    message: str
    retryable: bool

    def data(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "retryable": self.retryable}


def describe_failure(exc: BaseException, *, expose: bool = False) -> Failure:
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        retryable = status == 429 or status >= 500
        return Failure(ErrorCode.UPSTREAM_ERROR, f"the model provider returned {status}", retryable)
    if isinstance(exc, TimeoutError | httpx.TimeoutException) or name == "APITimeoutError":
        return Failure(ErrorCode.UPSTREAM_TIMEOUT, "the model provider timed out", True)
    if isinstance(exc, httpx.TransportError) or name == "APIConnectionError":
        return Failure(
            ErrorCode.UPSTREAM_ERROR, "the connection to the model provider failed", True
        )
    log.error("run failed: %s", name, exc_info=exc)
    message = f"{name}: {exc}" if expose else f"the runnable raised {name}"
    return Failure(ErrorCode.INTERNAL, message, False)
