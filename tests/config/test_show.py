"""``tokenwire config show``: every effective setting, its value and its source."""

from __future__ import annotations

import pytest

from tests.config.conftest import WriteToml
from tokenwire.config import JwtSettings, Settings, read_config, show
from tokenwire.errors import ConfigError
from tokenwire.server.cli import main
from tokenwire.server.config import load_config


def test_every_setting_shows_once_with_its_source(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENWIRE_RETRY_MS", "20")
    file = read_config(toml('[gateway]\nmax_runs = 7\nretry_ms = 30\n[auth]\njwt_audience = "a"\n'))
    lines = show(file, {"gc_freeze": True})
    assigned = [line.split(" = ")[0] for line in lines if " = " in line and line[0] != "#"]
    expected = [*Settings.model_fields, *JwtSettings.model_fields, "jwt_public_key_file"]
    assert assigned == expected
    assert "retry_ms = 20  # env" in lines
    assert "max_runs = 7  # file" in lines
    assert "gc_freeze = true  # default" in lines  # a served default is no file's
    assert 'jwt_audience = "a"  # file' in lines
    assert "heartbeat_seconds = 10.0  # default" in lines


def test_the_command_reads_the_environment_alone_without_a_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKENWIRE_AUTH", "none")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert 'auth = "none"  # env' in out and "no file" in out
    monkeypatch.setenv("TOKENWIRE_AUTHH", "none")
    assert main(["config", "show"]) == 2
    assert "TOKENWIRE_AUTHH (environment): no such setting" in capsys.readouterr().err


def test_metrics_labels_and_buckets_are_configured_and_shown(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKENWIRE_METRICS_TOKEN_BUCKETS", "[10, 100]")
    path = toml(
        "[gateway]\n"
        'metrics_key_aliases = ["sales", "support"]\n'
        "metrics_time_buckets = [0.1, 0.5, 2.5]\n"
        "[auth]\n"
        'jwt_department_claim = "tenant"\n'
        'keys = [{ alias = "web", key = "sk-web", department = "sales" }, '
        '{ alias = "ops", key = "sk-ops" }]\n'
    )
    lines = show(read_config(path))
    assert 'metrics_key_aliases = ["sales", "support"]  # file' in lines
    assert "metrics_time_buckets = [0.1, 0.5, 2.5]  # file" in lines
    assert "metrics_token_buckets = [10.0, 100.0]  # env" in lines
    assert 'jwt_department_claim = "tenant"  # file' in lines
    assert "# 2 API key(s): web (sales), ops" in lines
    config = load_config(path)
    assert config.settings.metrics_token_buckets == (10.0, 100.0)
    assert config.credentials.jwt_department_claim == "tenant"
    assert config.credentials.authenticate("sk-web").label == "sales"
    assert config.credentials.labels() == {"sales", "ops"}


def test_bucket_boundaries_must_increase(toml: WriteToml) -> None:
    path = toml("[gateway]\nmetrics_time_buckets = [1.0, 0.5]\n")
    with pytest.raises(ConfigError, match="metrics_time_buckets: boundaries must increase"):
        read_config(path).settings()
