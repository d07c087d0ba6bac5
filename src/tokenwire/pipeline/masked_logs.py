"""Log lines written while a masked route's run works are masked before any handler sees them.

A run's task (and every task and executor call LangChain starts from it: they copy its
context) carries the route's masking in a context variable; a log record factory, installed
once and chained to whatever factory was there, masks each record created under it — its
message with its arguments, the traceback (formatted now, as text: an exception's message
often repeats the input) and the stack. Loggers and handlers are untouched, so it holds for
tokenwire's, LangChain's, the provider SDK's and any library's log lines alike; records made
elsewhere cost one context-variable read.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["masked_context"]

_MASK: contextvars.ContextVar[Callable[[str], str] | None] = contextvars.ContextVar(
    "tokenwire_log_mask", default=None
)
_FORMATTER = logging.Formatter()
_INSTALL = threading.Lock()


def masked_context(mask: Callable[[str], str]) -> contextvars.Context:
    """A copy of the current context in which log records are masked with ``mask`` (for
    ``loop.create_task(..., context=...)``)."""
    _install()
    context = contextvars.copy_context()
    context.run(_MASK.set, mask)
    return context


class _MaskingRecords:
    """The record factory: the previous one's records, masked inside a masked run."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        mask = _MASK.get()
        if mask is not None:
            _mask(record, mask)
        return record


def _install() -> None:
    with _INSTALL:
        current = logging.getLogRecordFactory()
        if not isinstance(current, _MaskingRecords):
            logging.setLogRecordFactory(_MaskingRecords(current))


def _mask(record: logging.LogRecord, mask: Callable[[str], str]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # arguments that do not fit the format: logging reports it later
        message = f"{record.msg} {record.args}"
    record.msg, record.args = mask(message), None
    if record.exc_info:
        # Handlers would format the exception themselves, message included: hand them text.
        record.exc_text = mask(_FORMATTER.formatException(record.exc_info))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = mask(record.exc_text)
    if record.stack_info:
        record.stack_info = mask(record.stack_info)
