"""The ``tokenwire`` command as a user runs it: real processes on loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

import httpx
import pytest

from tokenwire.server.background import BackgroundServer
from tokenwire.server.cli import main
from tokenwire.testing import SSE, free_port, iter_sse, text_of

TOKENWIRE = [sys.executable, "-m", "tokenwire"]
Launch = Callable[..., str]


@pytest.fixture
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    procs: list[subprocess.Popen[str]] = []
    outputs: list[IO[str]] = []
    logs = tmp_path_factory.mktemp("logs")

    def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
        port = free_port()
        log = logs / f"{port}.log"
        outputs.append(log.open("w"))
        proc = subprocess.Popen(
            [*TOKENWIRE, *args, "--port", str(port)],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=outputs[-1],
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is None
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(log.read_text())
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("tokenwire did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=15)
    for output in outputs:
        output.close()


def _stream(
    url: str, route: str, body: Mapping[str, object], auth: dict[str, str] | None = None
) -> list[SSE]:
    headers = {"Accept": "text/event-stream", **(auth or {})}
    with httpx.stream("POST", f"{url}/v1/routes/{route}/runs", json=body, headers=headers) as r:
        return list(iter_sse(r))


def test_serve_a_file_target(launch: Launch, mock_server: BackgroundServer, tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """
            import os
            from langchain_core.prompts import ChatPromptTemplate
            from langchain_openai import ChatOpenAI

            def make_chain():
                model = ChatOpenAI(base_url=os.environ["MOCK_URL"], api_key="k", model="mock")
                return ChatPromptTemplate.from_messages([("user", "Q: {q}")]) | model
            """
        )
    )
    url = launch(
        "serve",
        "app.py:make_chain",
        "--name",
        "qa",
        "--no-auth",
        cwd=tmp_path,
        env={"MOCK_URL": f"{mock_server.url}/v1"},
    )
    events = _stream(url, "qa", {"input": {"q": "why stream?"}})
    assert text_of(events) == "You said: Q: why stream?"


def test_serve_a_config_file_with_several_routes(
    launch: Launch, mock_server: BackgroundServer, tmp_path: Path
) -> None:
    (tmp_path / "chains.py").write_text(
        "import os\nfrom langchain_openai import ChatOpenAI\n"
        "fast = ChatOpenAI(base_url=os.environ['MOCK_URL'], api_key='k', model='mock')\n"
        "slow = ChatOpenAI(base_url=os.environ['MOCK_URL'], api_key='k', model='mock@itl=1')\n"
    )
    (tmp_path / "tokenwire.toml").write_text(
        "[gateway]\nheartbeat_seconds = 5\n\n"
        '[auth]\nkeys = [{ alias = "team", key = "sk-team" }]\n\n'
        '[routes.fast]\ntarget = "chains.py:fast"\n\n'
        '[routes.slow]\ntarget = "chains.py:slow"\non_disconnect = "continue"\n'
    )
    url = launch(
        "serve",
        "--config",
        "tokenwire.toml",
        cwd=tmp_path,
        env={"MOCK_URL": f"{mock_server.url}/v1"},
    )
    assert httpx.get(f"{url}/readyz").json()["routes"] == ["fast", "slow"]
    assert httpx.post(f"{url}/v1/routes/slow/runs", json={"input": "hi"}).status_code == 401
    headers = {"Authorization": "Bearer sk-team"}
    assert text_of(_stream(url, "slow", {"input": "hi"}, headers)) == "You said: hi"


def test_demo_command_serves_the_three_routes(launch: Launch) -> None:
    url = launch("demo")
    assert httpx.get(f"{url}/readyz").json()["routes"] == ["agent", "chat", "rag"]
    events = _stream(url, "chat", {"input": "hello demo"})
    assert text_of(events) == "You said: hello demo"


def test_bad_targets_are_clear_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["serve", "no_colon_here"]) == 2
    assert "must look like" in capsys.readouterr().err
    assert main(["serve", f"{tmp_path}/missing.py:chain"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["serve", "json:dumps", "--no-auth"]) == 2
    assert "not a LangChain Runnable" in capsys.readouterr().err
    (tmp_path / "ok.py").write_text("from langchain_core.runnables import RunnableLambda\n"
                                    "chain = RunnableLambda(lambda x: x)\n")  # fmt: skip
    assert main(["serve", f"{tmp_path}/ok.py:chain"]) == 2
    assert "no API keys configured" in capsys.readouterr().err


def test_bad_settings_are_clear_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ok.py").write_text("from langchain_core.runnables import RunnableLambda\n"
                                    "chain = RunnableLambda(lambda x: x)\n")  # fmt: skip
    (tmp_path / "tokenwire.toml").write_text(
        '[gateway]\nheartbeat_seconds = 0\nauth = "sometimes"\nmax_runs = 0\n'
    )
    config = str(tmp_path / "tokenwire.toml")
    assert main(["serve", f"{tmp_path}/ok.py:chain", "--config", config]) == 2
    err = capsys.readouterr().err
    # Each problem names the file, the table and the key, and what is wrong.
    for problem in (
        "tokenwire.toml [gateway] heartbeat_seconds: must be > 0",
        "tokenwire.toml [gateway] auth: must be one of 'required' or 'none'",
        "tokenwire.toml [gateway] max_runs: must be >= 1",
    ):
        assert problem in err
    monkeypatch.setenv("TOKENWIRE_REDIS_URL", "http://127.0.0.1:6379")
    assert main(["serve", f"{tmp_path}/ok.py:chain", "--no-auth"]) == 2
    assert "TOKENWIRE_REDIS_URL (environment): must start with redis://" in (
        capsys.readouterr().err
    )
    assert main(["serve", f"{tmp_path}/ok.py:chain", "--no-auth", "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_the_jwt_secret_alone_secures_serve(launch: Launch, tmp_path: Path) -> None:
    from tests.security.conftest import JWT_SECRET, token

    (tmp_path / "echo.py").write_text(
        "from langchain_core.runnables import RunnableLambda\n"
        "echo = RunnableLambda(lambda x: f'echo {x}')\n"
    )
    url = launch("serve", f"{tmp_path}/echo.py:echo", env={"TOKENWIRE_JWT_SECRET": JWT_SECRET})
    body = {"input": "hi"}
    refused = httpx.post(f"{url}/v1/routes/echo/runs", json=body)
    assert refused.status_code == 401
    events = _stream(url, "echo", body, {"Authorization": f"Bearer {token()}"})
    assert text_of(events) == "echo hi"


def test_serve_a_graph_that_interrupts_and_resume_it_after_a_restart(
    launch: Launch, tmp_path: Path
) -> None:
    """``tokenwire serve`` a graph compiled without a checkpointer: the first run pauses,
    the gateway restarts, and the thread resumes where it paused."""
    (tmp_path / "graph.py").write_text(
        textwrap.dedent(
            """
            from langgraph.graph import END, START, StateGraph
            from langgraph.types import interrupt
            from typing_extensions import TypedDict

            class State(TypedDict, total=False):
                question: str
                answer: str

            def ask(state):
                return {"answer": str(interrupt({"question": state["question"]}))}

            builder = StateGraph(State)
            builder.add_node("ask", ask)
            builder.add_edge(START, "ask")
            builder.add_edge("ask", END)
            graph = builder.compile()
            """
        )
    )
    env = {"TOKENWIRE_DATA_DIR": str(tmp_path / "data")}
    args = ("serve", "graph.py:graph", "--name", "ask", "--no-auth")
    url = launch(*args, cwd=tmp_path, env=env)
    events = _stream(url, "ask", {"input": {"question": "name?"}, "thread_id": "t"})
    assert [e.data["status"] for e in events if e.event == "run.end"] == ["interrupted"]
    assert httpx.get(f"{url}/v1/threads/t").json()["next"] == ["ask"]
    url = launch(*args, cwd=tmp_path, env=env)  # another process on the same data_dir
    events = _stream(url, "ask", {"thread_id": "t", "command": {"resume": "ada"}})
    (end,) = [e.data for e in events if e.event == "run.end"]
    assert (end["status"], end["output"]) == ("completed", {"question": "name?", "answer": "ada"})
    assert httpx.get(f"{url}/v1/threads/t").json()["values"]["answer"] == "ada"
