"""Secrets never show: not in a ``repr`` or ``str`` of the settings, not in ``config show``,
not in the text of an error about them — so logs and tracebacks leak nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.config.conftest import WriteToml
from tokenwire.config import JwtSettings, Settings, read_config, show
from tokenwire.errors import ConfigError
from tokenwire.server.cli import main

SECRETS = ("redis-password", "pg-password", "otlp-token", "fernet-key", "hs256-secret")


def _printed(value: object) -> str:
    return repr(value) + str(value) + repr([value]) + f"{value!r}"


def test_settings_hide_the_passwords_in_their_urls() -> None:
    settings = Settings(
        redis_url=SecretStr("redis://:redis-password@127.0.0.1:6379/0"),
        audit_url=SecretStr("postgresql+asyncpg://tokenwire:pg-password@db.internal/audit"),
        otlp_endpoint="https://collector:otlp-token@otel.example:4318",
    )
    printed = _printed(settings)
    for secret in SECRETS:
        assert secret not in printed
    assert "db.internal/audit" in printed and "127.0.0.1:6379/0" in printed
    assert "heartbeat_seconds=10.0" in printed  # the rest reads as before
    assert settings.redis_url.get_secret_value().endswith("@127.0.0.1:6379/0")  # intact
    in_the_query = Settings(
        redis_url=SecretStr("rediss://127.0.0.1:6379/0?db=0&password=redis-password")
    )
    assert "redis-password" not in _printed(in_the_query)
    assert "?db=0&password=***" in repr(in_the_query)


def test_the_input_key_and_the_jwt_secret_show_only_as_set() -> None:
    printed = _printed(Settings(audit_input_key=SecretStr("fernet-key")))
    printed += _printed(JwtSettings(jwt_secret=SecretStr("hs256-secret")))
    assert "fernet-key" not in printed and "hs256-secret" not in printed
    assert "audit_input_key" not in printed and "jwt_secret=SecretStr('**********')" in printed


def _secret_file(toml: WriteToml) -> Path:
    return toml(
        '[gateway]\naudit_url = "postgresql+asyncpg://u:pg-password@db/audit"\n'
        'otlp_endpoint = "https://c:otlp-token@otel:4318"\n'
        '[auth]\njwt_secret = "hs256-secret"\n'
    )


def test_config_show_hides_every_secret(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _secret_file(toml)
    monkeypatch.setenv("TOKENWIRE_REDIS_URL", "redis://:redis-password@127.0.0.1:6379/0")
    monkeypatch.setenv("TOKENWIRE_AUDIT_INPUT_KEY", "fernet-key")
    assert main(["config", "show", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    for secret in SECRETS:
        assert secret not in out
    assert 'redis_url = "**********"  # env' in out
    assert 'audit_url = "**********"  # file' in out
    assert 'jwt_secret = "**********"  # file' in out
    assert 'otlp_endpoint = "https://***@otel:4318"  # file' in out
    assert 'audit_input_key = "**********"  # env' in out
    assert "\n".join(show(read_config(path))).count("**********") == 4


def test_errors_about_secrets_do_not_quote_them(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = []
    for bad in ({"redis_url": "http://:redis-password@h"}, {"audit_url": ["pg-password"]}):
        with pytest.raises(ConfigError) as e:
            Settings(**bad)
        problems.append(str(e.value))
    monkeypatch.setenv("TOKENWIRE_JWT_LEEWAY_SECONDS", "hs256-secret")
    with pytest.raises(ConfigError) as e:
        read_config(_secret_file(toml)).jwt_settings()
    problems.append(str(e.value))
    assert problems[2].startswith("TOKENWIRE_JWT_LEEWAY_SECONDS (environment): ")
    for secret in SECRETS:
        assert not any(secret in problem for problem in problems)
