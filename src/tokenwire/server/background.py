"""Run an ASGI app on a loopback port in a background thread.

Used by the test-suite, the benchmarks and ``tokenwire demo`` wherever a real server is
needed next to other code: streaming can only be observed over a real socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn

from tokenwire.config import Settings
from tokenwire.server.connections import server_config

__all__ = ["BackgroundServer"]


@dataclass
class BackgroundServer:
    """A uvicorn server on ``host`` with its own event loop in a daemon thread.

    >>> with BackgroundServer(app) as server:
    ...     httpx.get(server.url + "/healthz")
    """

    app: Any
    host: str = "127.0.0.1"
    port: int = 0
    log_level: str = "warning"
    #: Its connection limits (header size and time, keep-alive, WebSocket message size).
    settings: Settings = field(default_factory=Settings)
    _server: uvicorn.Server | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        config = server_config(
            self.app,
            self.settings,
            host=self.host,
            port=self.port,
            log_level=self.log_level,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="tokenwire-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.host} did not start")
            time.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def _run(self) -> None:
        assert self._server is not None
        factory = self._server.config.get_loop_factory()
        loop = factory() if factory is not None else asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._server.serve())

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
