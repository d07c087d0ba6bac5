"""``tokenwire keys create`` and ``tokenwire mock-provider --help``, run as a user runs them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tokenwire.gateway import Gateway
from tokenwire.mock.profile import _HEADERS, _SETTINGS
from tokenwire.security.credentials import hash_key
from tokenwire.security.new_keys import KEY_PREFIX, KeyEntry, issue_key
from tokenwire.security.principal import Role
from tokenwire.server.config import load_config
from tokenwire.testing import serve

TOKENWIRE = [sys.executable, "-m", "tokenwire"]
_KEY_LINE = re.compile(r"^API key \(shown once; tokenwire keeps only its hash\): (\S+)$", re.M)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TOKENWIRE, *args], capture_output=True, text=True, env=os.environ, timeout=60
    )


def _toml_block(stdout: str) -> str:
    """What the output tells the user to paste: the ``[auth]`` table it prints."""
    start = stdout.index("\n[auth]\n") + 1
    return stdout[start : stdout.index("]\n", stdout.index("keys = [")) + 2]


def test_a_created_key_admits_its_bearer_through_the_printed_entry(tmp_path: Path) -> None:
    done = _run(
        "keys", "create", "--alias", "web", "--role", "client", "--rpm", "120",
        "--department", "sales",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    match = _KEY_LINE.search(done.stdout)
    assert match is not None, done.stdout
    secret = match[1]
    assert secret.startswith(KEY_PREFIX) and len(secret) >= len(KEY_PREFIX) + 43  # 256 bits
    assert secret not in _toml_block(done.stdout)  # the file holds the hash only
    (tmp_path / "app.py").write_text(
        "from langchain_core.runnables import RunnableLambda\necho = RunnableLambda(str)\n"
    )
    (tmp_path / "tokenwire.toml").write_text(
        f'{_toml_block(done.stdout)}\n[gateway]\naudit_enabled = false\ndata_dir = "{tmp_path}"\n'
        '\n[routes.echo]\ntarget = "app.py:echo"\n'
    )
    config = load_config(tmp_path / "tokenwire.toml")
    key = config.credentials.key("web")
    assert key is not None and key.key_sha256 == hash_key(secret)
    assert (key.requests_per_minute, key.department, key.roles) == (
        120,
        "sales",
        frozenset({Role.CLIENT}),
    )
    gateway = Gateway(config.routes, config.settings, credentials=config.credentials)
    with serve(gateway) as client:
        body = {"input": "hi"}
        ok = client.post("/v1/routes/echo/runs", json=body, headers=_bearer(secret))
        assert ok.status_code == 202, ok.text
        assert client.get(ok.json()["status_url"], headers=_bearer(secret)).status_code == 200
        wrong = client.post("/v1/routes/echo/runs", json=body, headers=_bearer(secret + "x"))
        assert wrong.status_code == 401
        assert client.post("/v1/routes/echo/runs", json=body).status_code == 401


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_every_key_field_is_offered_and_roles_repeat() -> None:
    done = _run(
        "keys", "create", "--alias", "ops", "--role", "moderator", "--role", "auditor",
        "--concurrent-streams", "2", "--tpm", "40000", "--token-budget", "100000",
        "--cost-budget-usd", "2.5", "--budget-period", "month",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    entry = _toml_block(done.stdout)
    for field in (
        'alias = "ops"',
        'roles = ["moderator", "auditor"]',
        "concurrent_streams = 2",
        "tokens_per_minute = 40000",
        "token_budget = 100000",
        "cost_budget_usd = 2.5",
        'budget_period = "month"',
    ):
        assert field in entry


def test_an_entry_the_gateway_would_refuse_is_refused_before_a_key_is_shown() -> None:
    done = _run("keys", "create", "--alias", "jwt:alice")
    assert done.returncode == 2
    assert "reserved" in done.stderr and KEY_PREFIX not in done.stdout
    assert _run("keys", "create", "--alias", "x", "--rpm", "0").returncode == 2


def test_keys_are_fresh_and_names_are_escaped() -> None:
    first, second = issue_key(KeyEntry('a "quoted" one')), issue_key(KeyEntry("b"))
    assert first.secret != second.secret
    assert 'alias = "a \\"quoted\\" one"' in first.entry.toml()
    assert first.secret not in repr(first)


def test_mock_provider_help_documents_the_model_syntax() -> None:
    done = _run("mock-provider", "--help")
    assert done.returncode == 0
    for setting in _SETTINGS:  # every setting and header the mock parses
        assert f"{setting}=" in done.stdout
    for word in [*_HEADERS, "x-mock-fault-key", "drop:N", "stall:N:S", "malformed:N", "tools"]:
        assert word in done.stdout
