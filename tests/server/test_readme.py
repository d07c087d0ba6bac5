"""README.md's "As a library" code, run as written (but for the server's address), so the
example cannot rot: the app it builds admits the key it made and no other."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any

import httpx

from tokenwire.server.background import BackgroundServer

README = Path(__file__).parents[2] / "README.md"
#: Where the README's client block expects the app; the test serves it elsewhere.
README_URL = "http://127.0.0.1:8000"


def library_blocks() -> list[str]:
    """The python blocks of the section, in order: the app, the client, the app of one's
    own, the Starlette host, the run without HTTP."""
    text = README.read_text()
    section = text[text.index("\n## As a library\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, re.M | re.S)
    assert len(blocks) == 5, "the test runs five blocks: update it with the README"
    return blocks


def run_client(block: str, url: str, namespace: dict[str, Any]) -> str:
    """The client block against ``url``: what it printed."""
    assert README_URL in block
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(block.replace(README_URL, url), namespace)
    return printed.getvalue()


def test_the_library_example_serves_its_key_and_refuses_others() -> None:
    app_block, client_block, embed_block, host_block, direct_block = library_blocks()
    namespace: dict[str, Any] = {}
    exec(app_block, namespace)
    with BackgroundServer(namespace["app"]) as server:
        printed = run_client(client_block, server.url, namespace)
        assert "event: run.start" in printed and "event: run.end" in printed
        assert '"status":"completed"' in printed
        assert '"output":"A run outlives its connection."' in printed
        body = {"input": {"question": "?"}}
        url = f"{server.url}/v1/routes/qa/runs"
        assert httpx.post(url, json=body).status_code == 401
        wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "unknown API key"

    exec(embed_block, namespace)
    with BackgroundServer(namespace["my_app"]) as server:
        printed = run_client(client_block, server.url, namespace)
        assert '"status":"completed"' in printed
        key = {"X-API-Key": namespace["API_KEY"]}
        assert httpx.get(f"{server.url}/hello", headers=key).json() == {"hello": "world"}
        assert httpx.get(f"{server.url}/hello").status_code == 401  # auth covers the app
        assert httpx.get(f"{server.url}/healthz").status_code == 200

    exec(host_block, namespace)
    with BackgroundServer(namespace["host"]) as server:
        printed = run_client(client_block, f"{server.url}/ai", namespace)
        assert '"status":"completed"' in printed
        assert httpx.post(f"{server.url}/ai/v1/routes/qa/runs", json={}).status_code == 401
        assert httpx.get(f"{server.url}/ai/healthz").status_code == 200

    exec(embed_block, namespace)  # a gateway of its own, not yet started
    exec("async def direct():\n" + textwrap.indent(direct_block, "    "), namespace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        asyncio.run(namespace["direct"]())
    assert out.getvalue() == "completed A run outlives its connection.\n"
