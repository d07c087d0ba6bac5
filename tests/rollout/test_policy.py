"""``[routes.x.rollout]``: what a rollout may say, refused with errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tokenwire.errors import ConfigError
from tokenwire.rollout import RolloutPolicy
from tokenwire.server.config import load_config


def _policy(**keys: object) -> RolloutPolicy:
    return RolloutPolicy.model_validate(keys)


def test_percents_over_100_are_refused() -> None:
    with pytest.raises(ValidationError, match="sum to 120, over 100"):
        _policy(variants=[{"name": "a", "percent": 60}, {"name": "b", "percent": 60}])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"variants": [{"name": "stable", "percent": 5}]}, "reserved"),
        ({"variants": [{"name": "a", "percent": 5}, {"name": "a", "percent": 5}]}, "unique"),
        ({"variants": [{"name": "a", "percent": 101}]}, "less than or equal to 100"),
        ({"sticky": "cookie"}, "sticky is"),
        ({"steps": [25, 5, 100]}, "steps must increase"),
        ({"steps": [5, 50]}, "the last step is 100"),
        ({"streaming_percent": -1}, "greater than or equal to 0"),
        ({"shadow": {"target": "x:y", "percent": 150}}, "less than or equal to 100"),
        ({"analysis": {"min_runs": 0}}, "greater than or equal to 1"),
        ({"analysis": {"max_error_rate": 2}}, "less than or equal to 1"),
        ({"alert_webhook": "ftp://x"}, "http"),
        ({"analysis": {"max_errors": 1}}, "Extra inputs"),
    ],
)
def test_invalid_policies_say_why(keys: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _policy(**keys)


def test_sticky_header_is_read_lower_case() -> None:
    assert _policy(sticky="header:X-User").sticky_header == "x-user"
    assert _policy(sticky="key").sticky_header is None


def _write(tmp_path: Path, rollout: str) -> Path:
    (tmp_path / "app.py").write_text(
        "from langchain_core.runnables import RunnableLambda\n"
        "v1 = RunnableLambda(lambda x: 'one')\n"
        "v2 = RunnableLambda(lambda x: 'two')\n"
    )
    config = tmp_path / "tokenwire.toml"
    config.write_text(f'[routes.chat]\ntarget = "app.py:v1"\n{rollout}')
    return config


def test_a_toml_rollout_builds_its_variants_and_shadow(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "[routes.chat.rollout]\n"
        'sticky = "header:x-user"\n'
        "streaming_percent = 80\n"
        'shadow = { target = "app.py:v2", percent = 10 }\n'
        "[[routes.chat.rollout.variants]]\n"
        'name = "v2"\npercent = 10\ntarget = "app.py:v2"\n'
        "[[routes.chat.rollout.variants]]\n"
        'name = "strict"\npercent = 5\noverrides = { first_token_timeout = 2 }\n'
        "[routes.chat.rollout.analysis]\nmin_runs = 7\nmax_ttft_p95_ratio = 1.5\n",
    )
    (route,) = load_config(config).routes
    plan = route.rollout
    assert plan is not None and plan.policy.analysis.min_runs == 7
    assert plan.variants["v2"].runnable.invoke("x") == "two"
    assert plan.variants["strict"].first_token_timeout == 2
    assert plan.variants["strict"].runnable.invoke("x") == "one"
    assert plan.shadow is not None and plan.shadow.runnable.invoke("x") == "two"
    assert plan.route_of(route, "stable", "batch").streaming is False


def test_a_variant_with_neither_target_nor_overrides_is_an_error(tmp_path: Path) -> None:
    config = _write(tmp_path, '[routes.chat.rollout]\nvariants = [{ name = "v2", percent = 10 }]\n')
    with pytest.raises(ConfigError, match="variant 'v2' needs a target or overrides"):
        load_config(config)


def test_a_variants_overrides_are_checked_as_route_keys(tmp_path: Path) -> None:
    config = _write(
        tmp_path,
        "[routes.chat.rollout]\n"
        'variants = [{ name = "v2", percent = 10, overrides = { first_token_timout = 2 } }]\n',
    )
    with pytest.raises(ConfigError, match="first_token_timout"):
        load_config(config)
