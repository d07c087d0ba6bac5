"""Settings from arguments, the environment and the file: one precedence, named errors."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from tests.config.conftest import WriteToml
from tokenwire.config import Settings, read_config
from tokenwire.errors import ConfigError


def test_a_misspelled_variable_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWIRE_HEARTBEAT", "5")
    with pytest.raises(ConfigError, match="TOKENWIRE_HEARTBEAT \\(environment\\): no such") as e:
        Settings()
    assert "did you mean TOKENWIRE_HEARTBEAT_SECONDS?" in str(e.value)


def test_the_test_suites_own_variables_are_no_typos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWIRE_TEST_SOMETHING", "x")
    monkeypatch.setenv("TOKENWIRE_JWT_SECRET", "a secret")  # a JwtSettings field
    assert Settings().heartbeat_seconds == 10.0


def test_precedence_is_arguments_then_environment_then_file_then_defaults(
    monkeypatch: pytest.MonkeyPatch, toml: WriteToml
) -> None:
    file = read_config(toml("[gateway]\nheartbeat_seconds = 3\nretry_ms = 30\nmax_runs = 7\n"))
    monkeypatch.setenv("TOKENWIRE_HEARTBEAT_SECONDS", "2")
    monkeypatch.setenv("TOKENWIRE_RETRY_MS", "20")
    settings = file.settings(heartbeat_seconds=1)
    assert settings.heartbeat_seconds == 1  # argument over environment
    assert settings.retry_ms == 20  # environment over file
    assert settings.max_runs == 7  # file over default
    assert settings.coalesce_seconds == 0.005  # default
    assert file.settings({"max_runs": 9, "max_events_per_run": 9}).max_events_per_run == 9
    assert file.settings({"max_runs": 9}).max_runs == 7  # the file over a served default
    monkeypatch.setenv("TOKENWIRE_MAX_RUNS", "5")
    assert Settings().max_runs == 5  # settings built in code read the environment too


def test_a_choice_is_refused_listing_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match=r"Settings\(auth=\.\.\.\): must be one of 'required' or"):
        Settings(auth="sometimes")  # type: ignore[arg-type]
    monkeypatch.setenv("TOKENWIRE_TOKEN_ESTIMATOR", "guess")
    with pytest.raises(ConfigError) as e:
        Settings()
    assert str(e.value) == (
        "TOKENWIRE_TOKEN_ESTIMATOR (environment): must be one of 'heuristic' or 'tiktoken'"
    )


def test_a_bound_names_the_field_and_its_source(
    monkeypatch: pytest.MonkeyPatch, toml: WriteToml
) -> None:
    monkeypatch.setenv("TOKENWIRE_HEARTBEAT_SECONDS", "0")
    with pytest.raises(
        ConfigError, match=r"^TOKENWIRE_HEARTBEAT_SECONDS \(environment\): must be > 0$"
    ):
        Settings()
    monkeypatch.delenv("TOKENWIRE_HEARTBEAT_SECONDS")
    path = toml("[gateway]\nmax_runs = 0\n")
    with pytest.raises(ConfigError, match=f"^{path} \\[gateway\\] max_runs: must be >= 1$"):
        read_config(path).settings()
    monkeypatch.setenv("TOKENWIRE_RETRY_MS", "soon")
    with pytest.raises(ConfigError, match="TOKENWIRE_RETRY_MS \\(environment\\): input should be"):
        Settings()


def test_redis_urls_need_a_redis_scheme() -> None:
    with pytest.raises(
        ConfigError, match=r"redis_url=\.\.\.\): must start with redis://, rediss://"
    ):
        Settings(redis_url=SecretStr("http://127.0.0.1:6379"))
    for url in ("redis://h:6379/0", "rediss://h:6380", "unix:///run/redis.sock", ""):
        assert Settings(redis_url=SecretStr(url)).redis_url.get_secret_value() == url


def test_replace_validates_like_a_new_instance() -> None:
    settings = Settings(heartbeat_seconds=5)
    assert settings.replace(retry_ms=5).heartbeat_seconds == 5
    with pytest.raises(ConfigError, match="must be > 0"):
        settings.replace(heartbeat_seconds=0)
    with pytest.raises(ConfigError, match=r"Settings\(heartbeet_seconds=\.\.\.\): no such setting"):
        settings.replace(heartbeet_seconds=1)
    with pytest.raises(ValueError, match="frozen"):
        settings.heartbeat_seconds = 1  # type: ignore[misc]
