"""How the gateway's HTTP server treats connections: bounded headers, bounded header time.

uvicorn's httptools protocol (the fast one, which the gateway serves with) limits neither
the size of a request's headers nor the time they take to arrive: a client could send a
megabyte of headers, or one header byte a second and hold its connection for ever
(slowloris). ``h11_max_incomplete_event_size`` bounds headers for uvicorn's h11 protocol
only, and no uvicorn protocol has a header-read timeout. :class:`LimitedHttpProtocol` adds
both to the httptools protocol, by its parser callbacks:

- the header timer starts when a connection opens, and when the first byte of a later
  request on a kept-alive connection arrives (``on_message_begin``; an idle kept-alive
  connection is uvicorn's ``timeout_keep_alive``), and stops when the headers are complete.
  When it fires: 408;
- header bytes are counted while headers are incomplete, and checked again once complete
  (they may arrive in one piece); past the limit: 431;
- a refusal closes gracefully (see ``_refuse``), and so does a request answered before its
  body was read (a 413): uvicorn drops the rest of the body, for ``header_timeout_seconds``
  at most, so an endless chunked body cannot hold the connection either.

It also stamps each request's arrival (``on_message_begin``, on the gateway's clock) in its
ASGI scope: TTFT counts from there (:mod:`tokenwire.server.arrival`).

:func:`server_config` builds the ``uvicorn.Config`` of ``tokenwire serve``/``demo`` and
:class:`~tokenwire.server.background.BackgroundServer` from :class:`~tokenwire.config.Settings`.
"""

from __future__ import annotations

import asyncio
import http
from time import perf_counter
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tokenwire.config import Settings
from tokenwire.server.access_log import redact_access_log
from tokenwire.server.arrival import gateway_clock, stamp_arrival
from tokenwire.usage.timing import Clock

__all__ = ["LimitedHttpProtocol", "limited_http", "server_config"]


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and a header-read timeout
    (class attributes; :func:`limited_http` makes a subclass with the configured ones)."""

    max_header_bytes: ClassVar[int] = 16_384
    header_timeout_seconds: ClassVar[float] = 10.0
    #: The gateway's clock, which requests' arrival is stamped on.
    arrival_clock: ClassVar[tuple[Clock]] = (perf_counter,)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        #: Bytes received since the current request began, while its headers are incomplete.
        self._header_bytes = 0
        self._in_headers = True
        #: Refused (431, 408): what the client still sends is dropped until it closes.
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():
            # Headers still incomplete after parsing this: all of it was headers.
            self._header_bytes += len(data)
            if self._header_bytes > self.max_header_bytes:
                self._refuse(431)

    def on_message_begin(self) -> None:
        if self._refused:
            return
        super().on_message_begin()
        stamp_arrival(self.scope, self.arrival_clock[0]())  # type: ignore[arg-type]
        self._in_headers = True
        self._header_bytes = 0
        self._start_header_timer()

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._in_headers = False
        self._stop_header_timer()
        if self._parsed_header_bytes() > self.max_header_bytes:
            self._refuse(431)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refused:
            return
        if self.cycle is not None and self.cycle.response_complete:
            # Answered before its body was read (a 413): uvicorn drops the rest, for a while.
            self._linger()
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None

    def handle_websocket_upgrade(self) -> None:
        if not self._refused:  # a refused handshake is no upgrade
            super().handle_websocket_upgrade()

    def _parsed_header_bytes(self) -> int:
        # Name, value, ": " and CRLF per header, as they came on the wire.
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _start_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.header_timeout_seconds, self._headers_timed_out
            )

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's headers, behind a response still being sent: that one
            # finishes first.
            self._start_header_timer()
            return
        self._refuse(408)

    def _refuse(self, status: int) -> None:
        """Answer ``status`` outside any request cycle, then close gracefully.

        A client refused mid-request is usually still sending. Closing at once would make
        the kernel answer its next bytes with a reset, which can destroy the response
        before the client reads it; so the write side closes (the client reads the answer
        and end-of-stream) while what still arrives is dropped until the client closes, or
        for ``header_timeout_seconds`` at most ("lingering close", as nginx does).
        """
        if self.transport.is_closing() or self._refused:
            return
        self._refused = True
        self._stop_header_timer()
        phrase = http.HTTPStatus(status).phrase.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, phrase, len(phrase), phrase)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger()

    def _linger(self) -> None:
        if self._linger_timer is None:
            self._linger_timer = self.loop.call_later(
                self.header_timeout_seconds, self.transport.close
            )


def limited_http(settings: Settings, clock: Clock = perf_counter) -> type[LimitedHttpProtocol]:
    """The protocol class with ``settings``' header limits, stamping arrivals on ``clock``."""

    class ConfiguredHttpProtocol(LimitedHttpProtocol):
        max_header_bytes = settings.max_header_bytes
        header_timeout_seconds = settings.header_timeout_seconds
        arrival_clock = (clock,)

    return ConfiguredHttpProtocol


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for serving the gateway with ``settings``' connection limits;
    ``options`` are passed on (host, port, log level, …). Arrivals are stamped on the clock
    of the gateway ``app`` serves."""
    redact_access_log()
    return uvicorn.Config(
        app,
        loop="uvloop",
        http=limited_http(settings, gateway_clock(app)),
        timeout_keep_alive=settings.keep_alive_seconds,
        # The same header limit if h11 were chosen instead of the protocol above.
        h11_max_incomplete_event_size=settings.max_header_bytes,
        ws_max_size=settings.max_request_bytes,
        **options,
    )
