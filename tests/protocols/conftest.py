from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.protocols.helpers import SDK_CLIENTS

NODE_DIR = Path(__file__).parent / "node"
#: The npm packages node/ pins (package.json): a checkout missing one is installed anew.
NODE_PACKAGES = ("ai", "@langchain/langgraph-sdk")

ReadUIStream = Callable[..., Any]


@pytest.fixture(scope="session")
def node_script() -> Callable[..., Any]:
    """``node_script(script, *args)``: the JSON line a script in node/ prints, run with the
    real npm packages (see :func:`_node_runner` for the install and skip rules)."""
    return _node_runner()


@pytest.fixture(scope="session")
def read_ui_stream(node_script: Callable[..., Any]) -> ReadUIStream:
    """``read_ui_stream("send", api, chat_id, text)`` / ``("resume", api, chat_id)``: the
    message the real ``ai`` package reads from the stream (see node/read_ui_stream.mjs)."""
    return lambda *args: node_script("read_ui_stream.mjs", *args)


def _node_runner() -> Callable[..., Any]:
    """Installs the pinned packages with ``npm ci`` on first use. Without node the tests skip
    — except on CI (``CI=true``), where they must run.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are required on CI for the npm client protocol tests")
        pytest.skip("node/npm not installed: cannot run the real npm clients")
    if not all((NODE_DIR / "node_modules" / name).is_dir() for name in NODE_PACKAGES):
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def read(script: str, *args: str) -> Any:
        done = subprocess.run(
            [node, script, *args],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return read


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    """Close the SDK clients a test made with ``helpers.sdk``."""
    yield
    while SDK_CLIENTS:
        SDK_CLIENTS.pop().close()
