"""The caller's trace, from a request's W3C ``traceparent`` header (Trace Context, level 1).

The server sets :data:`incoming_trace` for each request that carries a valid header; a run
started by that request takes the caller's trace id and records its span as the run span's
parent, so the gateway's spans nest under the caller's own. An invalid header is ignored,
as the specification asks (the run starts a trace of its own).
"""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass

__all__ = ["TraceParent", "incoming_trace", "parse_traceparent"]

# version "-" trace-id "-" parent-id "-" flags; a later version may append "-" fields.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceParent:
    """The caller's span: its trace id (32 hex digits) and span id (16)."""

    trace_id: str
    span_id: str
    sampled: bool


def parse_traceparent(header: str | None) -> TraceParent | None:
    """The header's span, or None when it is absent or invalid."""
    if not header:
        return None
    found = _TRACEPARENT.fullmatch(header.strip())
    if found is None:
        return None
    version, trace_id, span_id, flags, rest = found.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


#: The current request's ``traceparent`` (None: none, or invalid).
incoming_trace: contextvars.ContextVar[TraceParent | None] = contextvars.ContextVar(
    "tokenwire_incoming_trace", default=None
)
