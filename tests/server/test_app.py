"""``create_app`` serves a gateway as it was built: it changes nothing of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from langchain_core.runnables import RunnableLambda

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.server.app import create_app, install_auth

ROUTES = [Route("echo", RunnableLambda(lambda value: str(value)))]
CREDENTIALS = Credentials(keys=[ApiKey("web", hash_key("sk-web"), concurrent_streams=1)])


def _state(gateway: Gateway) -> dict[str, Any]:
    """Every attribute of the gateway, by identity (a replaced service or hook shows)."""
    return {name: id(value) for name, value in vars(gateway).items()}


@pytest.mark.parametrize("auth", ["required", "none"])
def test_create_app_changes_nothing_of_a_gateway_it_was_handed(
    tmp_path: Path, auth: Literal["required", "none"]
) -> None:
    gateway = Gateway(ROUTES, Settings(auth=auth, data_dir=str(tmp_path)), credentials=CREDENTIALS)
    before, hooks = _state(gateway), gateway.hooks
    for _ in range(2):  # one gateway, two apps: still one set of hooks (one charge per run)
        create_app(gateway)
        install_auth(FastAPI(), gateway)
    assert _state(gateway) == before
    assert gateway.hooks is hooks and len(hooks.run_end) == (1 if auth == "required" else 0)


def test_a_handed_gateway_keeps_its_own_settings_and_credentials(tmp_path: Path) -> None:
    gateway = Gateway(ROUTES, Settings(data_dir=str(tmp_path)))
    with pytest.raises(TypeError, match="credentials="):
        create_app(gateway, credentials=CREDENTIALS)
    with pytest.raises(TypeError, match="Gateway"):
        create_app(gateway, Settings(auth="none"))


def test_routes_handed_in_get_a_gateway_with_the_credentials_limits(tmp_path: Path) -> None:
    app = create_app(ROUTES, Settings(data_dir=str(tmp_path)), credentials=CREDENTIALS)
    gateway = app.state.gateway
    assert gateway.key_limits is not None and gateway.key_limits.credentials is CREDENTIALS
    assert gateway.hooks.admission is gateway.key_limits
