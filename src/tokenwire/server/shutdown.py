"""Graceful shutdown: on SIGTERM stop accepting, let live streams finish, then end them.

uvicorn's own shutdown stops listening and then waits for open connections before it runs
the lifespan shutdown — but a stream stays open as long as its run, so the runs must end
first. :class:`DrainingServer` starts :meth:`Gateway.drain` the moment shutdown begins:
live runs get ``shutdown_grace_seconds`` to finish, and the rest end with
``error`` ``incomplete_stream`` and ``run.end`` — which their still-open streams deliver —
so clients know to rejoin (another replica) or retry. Only then do the connections close.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Any

import uvicorn

from tokenwire.server.connections import server_config

if TYPE_CHECKING:
    from tokenwire.gateway import Gateway

__all__ = ["DrainingServer", "serve"]

# Past the grace period, how long ended streams get to flush before uvicorn cancels them.
_FLUSH_SECONDS = 5.0


class DrainingServer(uvicorn.Server):
    """A ``uvicorn.Server`` that drains ``gateway``'s runs before closing connections."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway, grace_seconds: float) -> None:
        super().__init__(config)
        self._gateway = gateway
        self._grace = grace_seconds

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        drain = asyncio.get_running_loop().create_task(self._gateway.drain(self._grace))
        try:
            await super().shutdown(sockets)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain


def serve(
    app: Any,
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    sockets: list[socket.socket] | None = None,
    **options: Any,
) -> None:
    """Run ``app`` with uvicorn until SIGTERM/SIGINT, draining runs on the way out
    (on ``sockets`` when given, e.g. a worker's share of one listening socket)."""
    grace = gateway.settings.shutdown_grace_seconds
    config = server_config(
        app,
        gateway.settings,
        host=host,
        port=port,
        timeout_graceful_shutdown=int(grace + _FLUSH_SECONDS),
        **options,
    )
    DrainingServer(config, gateway, grace).run(sockets=sockets)
