"""When a request arrived: the moment its run's TTFT and ``queue_ms`` count from.

Under a burst the k-th request waits behind the k-1 before it (each read, authenticated,
validated and started in turn) before the app even sees it; a clock started there would
not see that wait, though the user does. So the gateway's HTTP protocol
(:mod:`.connections`) stamps each request, on the gateway's clock, as its first bytes are
parsed (``scope["extensions"]["tokenwire.arrival"]``); :class:`RequestArrival`, the app's
outermost middleware, hands the stamp — or, under another server, the moment the app is
called — to the request's task (``usage.timing.arrived_at``), where a run it starts reads it.
A WebSocket's runs arrive with their messages instead (``ws_api``).
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from tokenwire.usage.timing import Clock, arrived_at

__all__ = ["ARRIVAL", "RequestArrival", "gateway_clock", "stamp_arrival"]

#: The ASGI scope extension the server's protocol stamps a request's arrival in.
ARRIVAL = "tokenwire.arrival"


def stamp_arrival(scope: dict[str, Any], at: float) -> None:
    extensions = scope.get("extensions")
    if extensions is None:
        extensions = scope["extensions"] = {}
    extensions[ARRIVAL] = {"at": at}


def gateway_clock(app: Any) -> Clock:
    """The clock of the gateway ``app`` serves (``create_app`` keeps it in ``app.state``),
    else ``perf_counter`` (the gateway's default)."""
    gateway = getattr(getattr(app, "state", None), "gateway", None)
    clock = getattr(getattr(gateway, "telemetry", None), "clock", None)
    return clock if callable(clock) else perf_counter


class RequestArrival:
    """``clock``: the gateway's; arrival stamps are on it too, or TTFT would mix clocks."""

    def __init__(self, app: ASGIApp, *, clock: Clock = perf_counter) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stamp = (scope.get("extensions") or {}).get(ARRIVAL)
        at = stamp["at"] if stamp is not None else self.clock()
        token = arrived_at.set(at)
        try:
            await self.app(scope, receive, send)
        finally:
            arrived_at.reset(token)
