"""A live gateway whose event loop the tests can inspect, next to the session mock provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.telemetry.record import RunRecord


class RecordingExporter:
    """Keeps every telemetry record the gateway exports."""

    name = "test"

    def __init__(self) -> None:
        self.records: list[RunRecord] = []

    def export(self, records: Sequence[RunRecord]) -> None:
        self.records.extend(records)

    def close(self) -> None:
        pass


@dataclass
class Live:
    """A gateway on a loopback port: its HTTP client, and a look at its loop's tasks."""

    gateway: Gateway
    server: BackgroundServer
    client: httpx.Client
    exporter: RecordingExporter
    baseline: int = 0

    def telemetry_record(self, run_id: str, timeout: float = 5.0) -> RunRecord:
        """The run's per-run telemetry record, once the export pipeline delivered it."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.exporter.records if r.run_id == run_id]
            if found:
                (record,) = found
                return record
            assert time.monotonic() < deadline, f"no telemetry record for {run_id}"
            time.sleep(0.01)

    def task_names(self) -> list[str]:
        async def names() -> list[str]:
            current = asyncio.current_task()
            return sorted(t.get_name() for t in asyncio.all_tasks() if t is not current)

        return asyncio.run_coroutine_threadsafe(names(), self.server.loop).result(5)

    def close_model_clients(self) -> None:
        """Close the models' HTTP clients on the gateway's loop, whose sockets they hold:
        left to the garbage collector they warn (as errors) in whichever test runs then."""
        clients = {id(c): c for route in self.gateway.routes.values() for c in _clients(route)}

        async def close() -> None:
            for client in clients.values():
                await client.aclose()

        asyncio.run_coroutine_threadsafe(close(), self.server.loop).result(5)

    def wait_for_no_leftovers(self, mock_url: str, timeout: float = 5.0) -> None:
        """No run task, no extra task on the gateway's loop and no open mock response."""
        deadline = time.monotonic() + timeout
        while True:
            names = self.task_names()
            runs = [n for n in names if n.startswith("tokenwire-run-")]
            open_streams = httpx.get(f"{mock_url}/mock/stats").json()["open_streams"]
            if not runs and len(names) <= self.baseline and open_streams == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"left behind: tasks {names}, mock streams {open_streams}")
            time.sleep(0.02)


@pytest.fixture
def mock_url(mock_server: BackgroundServer) -> Iterator[str]:
    """The session mock provider, ledger and ``xK`` fault counters reset for this test."""
    httpx.delete(f"{mock_server.url}/mock/requests")
    httpx.delete(f"{mock_server.url}/mock/faults")
    yield mock_server.url


@pytest.fixture
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Live]]:
    """``live(routes, **settings)`` → a :class:`Live` gateway, stopped after the test."""
    started: list[Live] = []

    def start(routes: list[Route], **settings: Any) -> Live:
        settings.setdefault("auth", "none")
        settings.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
        exporter = RecordingExporter()
        gateway = Gateway(routes, Settings(**settings), exporters=[exporter])
        server = BackgroundServer(create_app(gateway)).start()
        client = httpx.Client(base_url=server.url, timeout=30)
        running = Live(gateway, server, client, exporter)
        started.append(running)
        running.baseline = len(running.task_names())
        return running

    yield start
    for running in started:
        running.client.close()
        running.close_model_clients()
        running.server.stop()


def _clients(route: Route) -> Iterator[Any]:
    """The ``http_async_client`` of every model a route (or its fallbacks) can call."""
    runnables: list[Any] = [route.runnable]
    runnables += [getattr(f, "runnable", f) for f in route.fallbacks]
    for runnable in runnables:
        nodes = [node.data for node in runnable.get_graph().nodes.values()]
        for candidate in [runnable, *nodes]:
            client = getattr(candidate, "http_async_client", None)
            if client is not None and hasattr(client, "aclose"):
                yield client
