"""ASGI middleware: a request's W3C ``traceparent`` becomes the context its runs start in.

Pure ASGI (no task of its own), so the endpoint — and every run it starts — sees
:data:`~tokenwire.telemetry.trace_context.incoming_trace`, on every protocol (HTTP and
WebSocket alike: a WebSocket's header comes with its upgrade request).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.telemetry.trace_context import incoming_trace, parse_traceparent

__all__ = ["TraceContext"]

_HEADER = b"traceparent"


class TraceContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == _HEADER:
                header = value.decode("latin-1")
                break
        parent = parse_traceparent(header)
        if parent is None:
            await self.app(scope, receive, send)
            return
        token = incoming_trace.set(parent)
        try:
            await self.app(scope, receive, send)
        finally:
            incoming_trace.reset(token)
