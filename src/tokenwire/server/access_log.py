"""Bearer grants in URLs stay out of the access log.

A stream token (``?token=``, for ``EventSource``) and a WebSocket's ``?api_key=`` travel in
the query string, which uvicorn's access log writes as it is; a log line must never be a
way into someone's stream. :class:`RedactedQuery` masks their values on the
``uvicorn.access`` logger.
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactedQuery", "redact_access_log"]

_SECRET_PARAMETER = re.compile(r"([?&](?:token|api_key)=)[^&#\s]*", re.IGNORECASE)


class RedactedQuery(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_PARAMETER.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


def redact_access_log(logger: logging.Logger | None = None) -> None:
    """Install :class:`RedactedQuery` on ``logger`` (uvicorn's access log), once."""
    logger = logger or logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactedQuery) for f in logger.filters):
        logger.addFilter(RedactedQuery())
