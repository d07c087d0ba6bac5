"""The reliability keys of ``tokenwire.toml`` routes, and the ``Route`` fields they set."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.reliability import BreakerPolicy, Fallback, RetryPolicy
from tokenwire.routes import Route
from tokenwire.server.config import load_config

CHAINS = (
    "from langchain_core.runnables import RunnableLambda\n"
    "primary = RunnableLambda(lambda x: 'primary')\n"
    "backup = RunnableLambda(lambda x: 'backup')\n"
    "batch = RunnableLambda(lambda x: 'batch')\n"
)


def test_every_reliability_key_reaches_the_route(tmp_path: Path) -> None:
    (tmp_path / "chains.py").write_text(CHAINS)
    (tmp_path / "tokenwire.toml").write_text(
        "[gateway]\nshutdown_grace_seconds = 3\n\n"
        "[routes.chat]\n"
        'target = "chains.py:primary"\n'
        "first_token_timeout = 10\nstall_timeout = 2.5\ntotal_timeout = 120\n"
        'mid_stream = "restart"\n'
        "retry = { max_retries = 2, base_delay = 0.5, budget_seconds = 20 }\n"
        "circuit_breaker = { failure_threshold = 3, cooldown_seconds = 15 }\n"
        'fallbacks = ["chains.py:backup", '
        '{ target = "chains.py:batch", name = "batch", streaming = false }]\n'
    )
    config = load_config(tmp_path / "tokenwire.toml")
    assert config.settings.shutdown_grace_seconds == 3
    (route,) = config.routes
    assert (route.first_token_timeout, route.stall_timeout, route.total_timeout) == (10, 2.5, 120)
    assert route.mid_stream == "restart"
    assert route.retry == RetryPolicy(max_retries=2, base_delay=0.5, budget_seconds=20)
    assert route.circuit_breaker == BreakerPolicy(failure_threshold=3, cooldown_seconds=15)
    backup, batch = route.fallbacks
    assert isinstance(backup, Fallback) and backup.streaming and backup.name is None
    assert isinstance(batch, Fallback) and (batch.name, batch.streaming) == ("batch", False)
    assert batch.runnable.invoke("x") == "batch"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('fallbacks = [{ name = "x" }]', r"\[routes.chat.fallbacks.0\] target: field required"),
        ("fallbacks = 3", r"\[routes.chat\] fallbacks: input should be a valid list"),
        ("retry = 2", r"\[routes.chat\] retry: input should be a valid dictionary"),
        ('mid_stream = "sometimes"', "mid_stream: must be one of 'error', 'restart' or 'continue'"),
        ("stall_timeout = 0", r"\[routes.chat\] stall_timeout: must be > 0"),
        ("retry = { max_retrys = 2 }", r"\[routes.chat.retry\] max_retrys: no such setting"),
    ],
)
def test_bad_reliability_keys_are_clear_errors(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "chains.py").write_text(CHAINS)
    (tmp_path / "tokenwire.toml").write_text(
        f'[routes.chat]\ntarget = "chains.py:primary"\n{line}\n'
    )
    with pytest.raises(ValueError, match=message):
        load_config(tmp_path / "tokenwire.toml")


def test_route_defaults_keep_todays_behaviour() -> None:
    route = Route("chat", RunnableLambda(lambda x: x), fallbacks=[RunnableLambda(lambda x: x)])
    assert route.retry.max_retries == 0 and route.mid_stream == "error"
    assert route.circuit_breaker is None and route.first_token_timeout is None
    assert isinstance(route.fallbacks[0], Fallback)
    assert Route("bare", RunnableLambda(lambda x: x)).fallbacks == ()
