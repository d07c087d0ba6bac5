"""The servers under test, each in its own process: ``python -m bench.servers KIND``.

- ``bare``: a plain Starlette app streaming the model's ``astream`` as ``data: <json>`` SSE;
- ``tokenwire``: ``create_app`` with telemetry, the PII guard and the event log on (auth
  off; grace period 0, so a disconnect cancels at once), route ``chat``; ``plain`` is the
  same route without the guard; ``openai`` and ``openai_slow`` are ``ChatOpenAI`` against
  the mock provider at ``$BENCH_MOCK_URL`` (2,000 tokens at once; 200 tokens/s), guarded, and
  ``graph`` / ``long_graph`` the graphs of :mod:`bench.peer_graph` (as ``langgraph dev``
  serves them);
- ``langserve``: ``add_routes(app, model, path="/chat")``;
- ``mock``: tokenwire's OpenAI-compatible mock provider.

Every server is uvicorn with uvloop and httptools on 127.0.0.1, a free port (printed on
stdout), and the file-descriptor limit raised to its hard maximum.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

KINDS = ("bare", "tokenwire", "langserve")
#: The Redis broker for ``tokenwire-redis`` and ``tokenwire-2w`` (set by the bench runner).
REDIS_URL_ENV = "BENCH_REDIS_URL"
REDIS_PREFIX_ENV = "BENCH_REDIS_PREFIX"
#: "0": the tokenwire server runs without ``gc_freeze`` (the gc_freeze A/B scenario).
GC_FREEZE_ENV = "BENCH_GC_FREEZE"
OPENAI_MODEL = "mock@tokens=2000"
OPENAI_SLOW_MODEL = "mock@tokens=100000,itl=5"
_ROOT = Path(__file__).resolve().parent.parent


def _bare_app() -> Any:
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    from bench.fake_model import WordStreamModel

    model = WordStreamModel()
    dumps = orjson.dumps

    async def stream(request: Request) -> StreamingResponse:
        text = orjson.loads(await request.body())["input"]

        async def events() -> Any:
            async for chunk in model.astream(text):
                yield b"data: " + dumps({"text": chunk.content}) + b"\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    routes = [Route("/stream", stream, methods=["POST"])]
    if mock_url := os.environ.get("BENCH_MOCK_URL"):
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        openai = ChatOpenAI(
            base_url=mock_url + "/v1",
            api_key=SecretStr("mock"),
            model=OPENAI_MODEL,
            stream_usage=True,
        )

        async def stream_openai(request: Request) -> StreamingResponse:
            text = orjson.loads(await request.body())["input"]

            async def events() -> Any:
                async for chunk in openai.astream(text):
                    yield b"data: " + dumps({"text": chunk.content}) + b"\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        routes.append(Route("/stream-openai", stream_openai, methods=["POST"]))
    return Starlette(routes=routes)


def _tokenwire_app() -> Any:
    from bench.fake_model import WordStreamModel
    from tokenwire.config import Settings
    from tokenwire.pipeline.guardrails import Guardrails
    from tokenwire.pipeline.pii import PiiGuard
    from tokenwire.routes import Route
    from tokenwire.server.app import create_app

    guarded = Guardrails(guards=(PiiGuard(),))
    routes = [
        Route("chat", WordStreamModel(), guardrails=guarded),
        Route("plain", WordStreamModel()),
    ]
    if mock_url := os.environ.get("BENCH_MOCK_URL"):
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        for name, model in (("openai", OPENAI_MODEL), ("openai_slow", OPENAI_SLOW_MODEL)):
            client = ChatOpenAI(base_url=mock_url + "/v1", api_key=SecretStr("mock"), model=model)
            routes.append(Route(name, client, guardrails=guarded))
        from bench import peer_graph  # the graph langgraph dev serves too (bench.langgraph_peer)

        routes.append(Route("graph", peer_graph.graph, guardrails=guarded))
        routes.append(Route("long_graph", peer_graph.long_graph, guardrails=guarded))
    settings = Settings(
        auth="none",
        disconnect_grace_seconds=0,
        # one audit database per process (workers must not share one hash chain file)
        data_dir=os.path.join(
            os.environ.get("BENCH_DATA_DIR") or tempfile.mkdtemp(prefix="tokenwire-bench-"),
            str(os.getpid()),
        ),
        max_runs=20_000,  # the 10,000-stream scenario plus what earlier scenarios retain
        # tokenwire-redis and tokenwire-2w: run logs mirrored to Redis, as deployed with workers
        redis_url=SecretStr(os.environ.get(REDIS_URL_ENV, "")),
        redis_prefix=os.environ.get(REDIS_PREFIX_ENV, "tokenwire-bench"),
        # the gc_freeze A/B scenario turns it off in one of its servers
        gc_freeze=os.environ.get(GC_FREEZE_ENV, "1") != "0",
    )
    return create_app(routes, settings)


def _langserve_app() -> Any:
    from fastapi import FastAPI
    from langserve import add_routes

    from bench.fake_model import WordStreamModel

    app = FastAPI()
    add_routes(app, WordStreamModel(), path="/chat")
    return app


def _mock_app() -> Any:
    from tokenwire.mock import create_mock_app

    return create_mock_app()


_APPS = {
    "bare": _bare_app,
    "tokenwire": _tokenwire_app,
    "tokenwire-redis": _tokenwire_app,  # with $BENCH_REDIS_URL set by the caller
    "langserve": _langserve_app,
    "mock": _mock_app,
}


def serve(kind: str) -> None:
    import logging

    import uvicorn

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.getLogger("tokenwire").setLevel(logging.ERROR)  # "auth is off" is expected
    workers = 2 if kind.endswith("-2w") else 1
    app: Any = f"bench.servers:_{kind.removesuffix('-2w')}_app" if workers > 1 else _APPS[kind]()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        app,
        factory=workers > 1,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level="error",
        access_log=False,
        backlog=4096,
        timeout_keep_alive=30,
    )
    with contextlib.suppress(KeyboardInterrupt):
        if workers > 1:  # each worker its own gateway: a run lives where it was started
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])


class ServerProcess:
    """``with ServerProcess("tokenwire") as server: server.port, server.rss()``."""

    def __init__(self, kind: str, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self._env = {**os.environ, **(env or {})}
        self._proc: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix=f"bench-{kind}-", suffix=".log", delete=False
        )
        self.port = 0

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def __enter__(self) -> ServerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bench.servers", self.kind],
            cwd=_ROOT,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line.strip():
            self.stop()
            raise RuntimeError(f"{self.kind} server did not start")
        self.port = int(line)
        self._wait_ready()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(64).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.kind} server not ready after {timeout} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        self._log.close()

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def errors(self) -> list[str]:
        """Lines the server logged at ERROR level or with a traceback."""
        self._log.flush()
        text = Path(self._log.name).read_text(errors="replace")
        return [ln for ln in text.splitlines() if ln.startswith(("ERROR", "Traceback"))]

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (and its workers) so far."""
        total = 0
        for pid in (self.pid, *self._children()):
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def _children(self) -> list[int]:
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []


if __name__ == "__main__":
    serve(sys.argv[1])
