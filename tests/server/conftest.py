from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer


@pytest.fixture(scope="module")
def gateway_url(
    mock_server: BackgroundServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One gateway per module, for requests that should be refused: a chat model route and
    an echo chain. Nothing sent to it should start a run unless the test says so."""
    routes = [
        Route("chat", demo_model(f"{mock_server.url}/v1")),
        Route("echo", RunnableLambda(lambda value: str(value))),
    ]
    settings = Settings(auth="none", data_dir=str(tmp_path_factory.mktemp("data")))
    with BackgroundServer(create_app(routes, settings)) as server:
        yield server.url
