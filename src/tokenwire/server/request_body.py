"""Request bodies: bounded on every HTTP front end, and a client leaving mid-body is no error.

:class:`RequestBodyLimit` is ASGI middleware in front of every route:

- a declared ``Content-Length`` over ``max_bytes`` is answered 413 before the app sees the
  request; a body without one (chunked) is counted as it arrives, and the app's read that
  goes past the limit raises :class:`BodyTooLarge` (a 413 ``HTTPException``, which FastAPI
  passes on instead of turning it into a 400). The server drops the rest of the body
  without buffering it — the gateway's own server for a bounded time
  (:mod:`tokenwire.server.connections`) — so the client, which usually sends its whole
  body before it reads, gets the 413 instead of a reset connection;
- a client that disconnects before its body is complete is counted (``on_client_gone``)
  and logged at debug level. The app's read raises Starlette's ``ClientDisconnect``, which
  nobody is left to answer: it stops here instead of reaching the server's error log.

Endpoints read their body before they answer, so a 413 never follows a started response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokenwire.server.problems import problem

__all__ = ["BodyTooLarge", "RequestBodyLimit", "too_large"]

log = logging.getLogger("tokenwire.server")


class BodyTooLarge(HTTPException):
    """The request body grew past ``max_bytes`` while the app was reading it."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


def too_large(max_bytes: int) -> Response:
    detail = f"the request body is larger than {max_bytes} bytes (max_request_bytes)"
    return problem(413, "Request body too large", detail)


async def too_large_handler(request: Request, exc: Exception) -> Response:
    """The app's exception handler for :class:`BodyTooLarge` raised inside FastAPI routes."""
    assert isinstance(exc, BodyTooLarge)
    return too_large(exc.max_bytes)


class RequestBodyLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, on_client_gone: Callable[[], None] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_client_gone = on_client_gone

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await too_large(self.max_bytes)(scope, receive, send)
            return
        body = _BodyReader(receive, self.max_bytes, self._client_gone)
        try:
            await self.app(scope, body.receive, send)
        except BodyTooLarge:
            await too_large(self.max_bytes)(scope, receive, send)
        except ClientDisconnect:
            pass  # counted and logged by the reader; there is nobody left to answer

    def _client_gone(self, received: int) -> None:
        log.debug("a client left after %d bytes of its request body", received)
        if self.on_client_gone is not None:
            self.on_client_gone()


class _BodyReader:
    """One request's ``receive``, counting body bytes until the body is complete."""

    __slots__ = ("_complete", "_gone", "_max", "_receive", "_received")

    def __init__(self, receive: Receive, max_bytes: int, gone: Callable[[int], None]) -> None:
        self._receive = receive
        self._max = max_bytes
        self._gone = gone
        self._received = 0
        self._complete = False

    async def receive(self) -> Message:
        message = await self._receive()
        if self._complete:
            return message
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max:
                raise BodyTooLarge(self._max)
            self._complete = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self._complete = True
            self._gone(self._received)
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed one before the app runs
    return None
