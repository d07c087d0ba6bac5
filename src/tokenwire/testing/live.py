"""A live gateway on a loopback port, for as long as a ``with`` block lasts.

Streaming is only observable over a real socket (an ASGI test transport buffers the whole
body), so the kit runs the real app under uvicorn and hands out an httpx client on it.

>>> with serve([Route("echo", RunnableLambda(str))], max_output_tokens=50) as client:
...     events = collect(client, "echo", {"input": "hi"})
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing.settings import test_settings

__all__ = ["serve"]


@contextmanager
def serve(
    routes: Gateway | Iterable[Route],
    settings: Settings | None = None,
    *,
    credentials: Credentials | None = None,
    timeout: float = 30.0,
    **overrides: Any,
) -> Iterator[httpx.Client]:
    """An httpx client (``base_url`` set) on ``create_app(routes, ...)`` served on 127.0.0.1.

    Without ``settings`` the gateway runs on :func:`test_settings` with ``overrides``. A
    :class:`Gateway` is served as it was built (its own settings and credentials). The
    client is closed and the server stopped (draining its runs) on leaving the block.
    """
    if isinstance(routes, Gateway):
        if settings is not None or credentials is not None or overrides:
            raise TypeError("serve(gateway) serves the gateway as it was built")
        app, settings = create_app(routes), routes.settings
    else:
        settings = settings if settings is not None else test_settings(**overrides)
        app = create_app(routes, settings, credentials=credentials)
    with (
        BackgroundServer(app, settings=settings) as server,
        httpx.Client(base_url=server.url, timeout=timeout) as client,
    ):
        yield client
