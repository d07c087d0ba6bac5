"""The peers that are not Python libraries of ours: ``langgraph dev`` and the LiteLLM proxy,
each run from a venv of its own (made on first use under ``$BENCH_PEER_VENVS``, default
``.bench-venvs/``), on the bundled mock provider, as :class:`~bench.servers.ServerProcess`
runs ours (same CPU and RSS readings).

- ``langgraph dev`` (``langgraph-cli[inmem]``) serves :mod:`bench.peer_graph` from a scratch
  project: ``--no-browser --no-reload``, analytics and LangSmith tracing off.
- LiteLLM proxy: a release below 1.107 (1.107.0 was a compromised release), one worker,
  models ``short`` and ``long`` routed to the mock; no master key, as tokenwire runs with auth
  off here (``LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY``), telemetry off.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.servers import OPENAI_MODEL, SHORT_MODEL, ServerProcess

__all__ = ["LANGGRAPH_CLI", "LITELLM", "LanggraphDev", "LitellmProxy", "peer_command"]

LANGGRAPH_CLI = "langgraph-cli[inmem]==0.4.40"
LITELLM = "litellm[proxy]==1.106.12"
_ROOT = Path(__file__).resolve().parent.parent
VENVS = Path(os.environ.get("BENCH_PEER_VENVS", _ROOT / ".bench-venvs"))
_PACKAGES = {"langgraph": (LANGGRAPH_CLI, "langchain-openai"), "litellm": (LITELLM,)}


def peer_command(name: str) -> Path:
    """The ``name`` command (``langgraph``, ``litellm``) of its venv, made when missing."""
    venv = VENVS / name
    command = venv / "bin" / name
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        subprocess.run([*pip, *_PACKAGES[name]], check=True, timeout=1800)
    return command


class _CommandProcess(ServerProcess):
    """A peer started by a command in a scratch directory, ready once it answers HTTP."""

    def __init__(self, kind: str, env: dict[str, str]) -> None:
        super().__init__(kind, env)
        self._project = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> _CommandProcess:
        self.port = _free_port()
        self._proc = subprocess.Popen(
            self._argv(),
            cwd=self._project,
            env=self._env,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        self._wait_ready(timeout=180)
        return self

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._project, ignore_errors=True)


class LanggraphDev(_CommandProcess):
    def __init__(self, env: dict[str, str]) -> None:
        quiet = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
        super().__init__("langgraph-dev", {**env, **quiet})

    def _argv(self) -> list[str]:
        shutil.copy(_ROOT / "bench" / "peer_graph.py", self._project / "peer_graph.py")
        graphs = {"graph": "./peer_graph.py:graph", "long_graph": "./peer_graph.py:long_graph"}
        config = {"graphs": graphs, "dependencies": ["."]}
        (self._project / "langgraph.json").write_text(json.dumps(config))
        host = ["--host", "127.0.0.1", "--port", str(self.port)]
        return [str(peer_command("langgraph")), "dev", *host, "--no-browser", "--no-reload"]


class LitellmProxy(_CommandProcess):
    def __init__(self, env: dict[str, str]) -> None:
        quiet = {"LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
        super().__init__("litellm", {**env, **quiet, "LITELLM_TELEMETRY": "False"})

    def _argv(self) -> list[str]:
        mock = self._env["BENCH_MOCK_URL"] + "/v1"
        models = [
            {
                "model_name": name,
                "litellm_params": {"model": f"openai/{model}", "api_base": mock, "api_key": "m"},
            }
            for name, model in (("short", SHORT_MODEL), ("long", OPENAI_MODEL))
        ]
        (self._project / "config.yaml").write_text(json.dumps({"model_list": models}))
        host = ["--host", "127.0.0.1", "--port", str(self.port), "--num_workers", "1"]
        return [str(peer_command("litellm")), "--config", "config.yaml", *host]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
