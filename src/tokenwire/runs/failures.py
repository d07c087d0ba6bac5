"""Map an exception raised while running to a typed, client-safe ``error`` event.

Provider SDKs are optional dependencies, so their errors are recognised by shape
(``status_code``, class name) rather than imported here.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from tokenwire.events import ErrorCode
from tokenwire.reliability.timeouts import DeadlineExceeded
from tokenwire.reliability.transport import is_transport_error, is_transport_timeout

__all__ = ["SHUTDOWN_REASON", "START_FAILED", "Failure", "describe_failure", "shutdown_failure"]

#: The cancel reason of runs still live when the gateway shuts down.
SHUTDOWN_REASON = "gateway shutting down"

log = logging.getLogger("tokenwire.runs")


@dataclass(frozen=True, slots=True)
class Failure:
    code: ErrorCode
    message: str
    retryable: bool

    def data(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "retryable": self.retryable}


#: A run registered but never set going (its set-up raised): it ends at once with this.
START_FAILED = Failure(ErrorCode.INTERNAL, "the gateway failed to start the run", False)


def shutdown_failure() -> Failure:
    """For runs cut off by a shutdown: the client should rejoin (elsewhere) or retry."""
    return Failure(
        ErrorCode.INCOMPLETE_STREAM, "the gateway shut down before the run finished", True
    )


def describe_failure(exc: BaseException, *, expose: bool = False) -> Failure:
    name = type(exc).__name__
    # langchain-openai re-raises the SDK's errors as subclasses (OpenAIConnectionError).
    lineage = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, DeadlineExceeded):
        return _deadline_failure(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        retryable = status == 429 or status >= 500
        return Failure(ErrorCode.UPSTREAM_ERROR, f"the model provider returned {status}", retryable)
    if isinstance(exc, TimeoutError) or is_transport_timeout(exc) or "APITimeoutError" in lineage:
        return Failure(ErrorCode.UPSTREAM_TIMEOUT, "the model provider timed out", True)
    if is_transport_error(exc) or "APIConnectionError" in lineage:
        return Failure(
            ErrorCode.UPSTREAM_ERROR, "the connection to the model provider failed", True
        )
    if isinstance(exc, json.JSONDecodeError):
        # The OpenAI SDK lets a malformed stream chunk surface as a bare JSONDecodeError.
        return Failure(
            ErrorCode.UPSTREAM_ERROR, "the model provider sent a malformed response", True
        )
    log.error("run failed: %s", name, exc_info=exc)
    message = f"{name}: {exc}" if expose else f"the runnable raised {name}"
    return Failure(ErrorCode.INTERNAL, message, False)


def _deadline_failure(exc: DeadlineExceeded) -> Failure:
    seconds = f"{exc.seconds:g} s"
    if exc.kind == "stall":
        return Failure(ErrorCode.STALL_TIMEOUT, f"the model stopped streaming for {seconds}", True)
    if exc.kind == "first_token":
        message = f"the model sent no first token within {seconds}"
    else:
        message = f"the run did not finish within {seconds}"
    return Failure(ErrorCode.UPSTREAM_TIMEOUT, message, True)
