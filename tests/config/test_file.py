"""``tokenwire.toml`` checked against its models: a typo names its table and its key."""

from __future__ import annotations

import pytest

from tests.config.conftest import WriteToml
from tokenwire.config import read_config
from tokenwire.errors import ConfigError

ROUTE = '[routes.chat]\ntarget = "chains.py:primary"\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[gatway]\n", ": [gatway]: no such table"),
        (ROUTE + "fallback = []\n", " [routes.chat] fallback: no such setting"),
        (ROUTE + "retry = { max_retrys = 2 }\n", " [routes.chat.retry] max_retrys: no such"),
        (ROUTE + "[routes.chat.guardrails]\nwindw = 3\n", " [routes.chat.guardrails] windw:"),
        (ROUTE + "[routes.chat.budget]\nmax_tokens = 3\n", " [routes.chat.budget] max_tokens:"),
        (ROUTE + 'mode = "fast"\n', " [routes.chat] mode: must be one of 'auto', 'tokens' or"),
        ('[routes.chat]\nmode = "auto"\n', " [routes.chat] target: field required"),
        ('[pricing."m"]\ninput = 1\noutptu = 2\n', " [pricing.m] outptu: no such setting"),
        ('[auth]\nkeys = [{ alias = "web", rolse = [] }]\n', " [auth.keys.0] rolse: no such"),
        ('[auth]\njwt_secrt = "x"\n', " [auth] jwt_secrt: no such setting"),
    ],
)
def test_a_typo_names_the_table_and_the_key(toml: WriteToml, text: str, problem: str) -> None:
    path = toml(text)
    with pytest.raises(ConfigError) as e:
        read_config(path)
    assert f"{path}{problem}" in str(e.value)


def test_gateway_and_jwt_keys_are_checked_by_their_settings(toml: WriteToml) -> None:
    file = read_config(toml("[gateway]\nheartbeet_seconds = 1\n[auth]\njwt_leeway_seconds = -1\n"))
    with pytest.raises(ConfigError, match="\\[gateway\\] heartbeet_seconds: no such setting"):
        file.settings()
    with pytest.raises(ConfigError, match="\\[auth\\] jwt_leeway_seconds: must be >= 0"):
        file.jwt_settings()


def test_the_environment_wins_over_the_auth_table(
    toml: WriteToml, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = read_config(toml('[auth]\njwt_issuer = "https://file.example"\njwt_audience = "a"\n'))
    monkeypatch.setenv("TOKENWIRE_JWT_ISSUER", "https://env.example")
    jwt = file.jwt_settings()
    assert (jwt.jwt_issuer, jwt.jwt_audience) == ("https://env.example", "a")


def test_no_file_is_the_environment_and_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWIRE_JWT_SECRET", "from-env")
    monkeypatch.setenv("TOKENWIRE_RETRY_MS", "7")
    file = read_config(None)
    assert file.jwt_settings().jwt_secret.get_secret_value() == "from-env"
    assert file.settings().retry_ms == 7 and not file.routes
