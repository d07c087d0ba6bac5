"""``tokenwire config show``: every effective setting, its value and its source."""

from __future__ import annotations

import pytest

from tests.config.conftest import WriteToml
from tokenwire.config import JwtSettings, Settings, read_config, show
from tokenwire.server.cli import main


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
