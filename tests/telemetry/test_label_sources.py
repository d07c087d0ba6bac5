"""Where a caller's metrics label comes from (a key's department or alias, a token's
department claim, ``jwt``, an allow-list), and the series a gateway has before any run."""

from __future__ import annotations

import jwt as pyjwt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.security.conftest import JWT_SECRET, token
from tests.telemetry.scrape import Families, sample, series
from tests.telemetry.test_units import _record
from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.security.principal import ANONYMOUS, Principal, Role
from tokenwire.telemetry.attribution import OTHER, bounded_alias
from tokenwire.testing import ScriptedChatModel, text_turn

CLAIMS = Credentials(jwt_secret=JWT_SECRET, jwt_department_claim="department")


def _reporting() -> ScriptedChatModel:
    return ScriptedChatModel(turns=[text_turn("a", "b", usage=(3, 2))])


def test_a_key_is_labelled_by_its_department_else_its_alias() -> None:
    keys = [ApiKey("web", hash_key("sk-web"), department="sales"), ApiKey("ops", hash_key("o"))]
    credentials = Credentials(keys=keys)
    assert credentials.authenticate("sk-web").label == "sales"
    assert credentials.authenticate("sk-web").alias == "web"  # ownership stays the key's
    assert credentials.authenticate("o").label == "ops"
    assert ANONYMOUS.label == "anonymous"
    with pytest.raises(ValueError, match="department"):
        ApiKey("blank", hash_key("b"), department=" ")


@pytest.mark.parametrize(
    ("claims", "label"),
    [
        ({"department": "sales"}, "sales"),
        ({}, "jwt"),  # no claim
        ({"department": ""}, "jwt"),
        ({"department": ["sales"]}, "jwt"),  # not a name
        ({"department": "x" * 65}, "jwt"),  # too long to be a group's name
    ],
)
def test_a_token_is_labelled_by_its_department_claim_never_its_subject(
    claims: dict[str, object], label: str
) -> None:
    principal = CLAIMS.authenticate(token("alice@example.com", **claims))
    assert principal.label == label
    assert principal.alias == "jwt:alice@example.com"


def test_without_a_claim_configured_every_token_is_jwt() -> None:
    plain = Credentials(jwt_secret=JWT_SECRET)
    assert plain.authenticate(token("bob", department="sales")).label == "jwt"
    assert Principal.of_token("bob", frozenset({Role.CLIENT})).label == "jwt"
    signed = pyjwt.encode({"sub": "x", "exp": 2**40, "tenant": "acme"}, JWT_SECRET)
    tenants = Credentials(jwt_secret=JWT_SECRET, jwt_department_claim="tenant")
    assert tenants.authenticate(signed).label == "acme"


def test_an_allow_list_bounds_any_label() -> None:
    assert bounded_alias("sales", ()) == "sales"
    assert bounded_alias("sales", ("sales",)) == "sales"
    assert bounded_alias("eng", ("sales",)) == OTHER
    gateway = Gateway([Route("chat", _reporting())], Settings(metrics_key_aliases=("sales",)))
    assert gateway.telemetry.key_alias("jwt") == OTHER


def _parsed(gateway: Gateway) -> Families:
    body, content_type = gateway.telemetry.metrics.exposition()
    assert content_type.startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(body.decode())}


def test_series_exist_at_zero_for_every_route_and_known_caller_before_any_run() -> None:
    keys = [
        ApiKey("web", hash_key("sk-web"), department="sales"),
        ApiKey("batch", hash_key("sk-batch"), department="sales"),
        ApiKey("ops", hash_key("sk-ops")),
    ]
    credentials = Credentials(keys=keys, jwt_secret=JWT_SECRET)
    routes = [Route("chat", _reporting()), Route("draft", _reporting())]
    found = _parsed(Gateway(routes, Settings(), credentials=credentials))
    for route in ("chat", "draft"):
        for alias in ("sales", "ops", "jwt"):
            labels = {"route": route, "key_alias": alias, "protocol": "native"}
            labels |= {"gen_ai_request_model": "scripted-1", "gen_ai_operation_name": "chat"}
            for status in ("completed", "failed", "cancelled", "truncated", "blocked"):
                assert sample(found, "tokenwire_runs_total", **labels, status=status) == 0
            for error in ("incomplete_stream", "upstream_error", "stall_timeout"):
                assert sample(found, "tokenwire_errors_total", **labels, error_type=error) == 0
            assert sample(found, "tokenwire_cost_usd_total", **labels) == 0
            assert sample(found, "tokenwire_stalls_total", **labels) == 0
            ttft = "gen_ai_client_operation_time_to_first_chunk_seconds_count"
            assert sample(found, ttft, **labels) == 0
            usage = "gen_ai_client_token_usage_count"
            assert sample(found, usage, **labels, gen_ai_token_type="output") == 0
        assert sample(found, "tokenwire_active_streams", route=route) == 0
    aliases = {dict(labels).get("key_alias") for _, labels in series(found)} - {None}
    assert aliases == {"sales", "ops", "jwt"}  # a key's department, a key's alias, JWTs


def test_bucket_boundaries_come_from_the_settings() -> None:
    settings = Settings(metrics_time_buckets=(0.5, 2.0), metrics_token_buckets=(10.0, 1e3))
    found = _parsed(Gateway([Route("chat", _reporting())], settings))

    def bounds(family: str) -> set[str]:
        return {s.labels["le"] for s in found[family].samples if s.name.endswith("_bucket")}

    for family in (
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_operation_time_per_output_chunk_seconds",
        "gen_ai_client_operation_duration_seconds",
    ):
        assert bounds(family) == {"0.5", "2.0", "+Inf"}, family
    assert bounds("gen_ai_client_token_usage") == {"10.0", "1000.0", "+Inf"}


def test_an_attribution_seen_first_at_a_run_gets_all_its_series_at_once() -> None:
    # A token's department is known only when it arrives: its first run creates every
    # series of its attribution, so a later stall or error adds no series (and rate() sees
    # the first one).
    gateway = Gateway([Route("chat", _reporting())], Settings())
    gateway.telemetry.metrics.observe(_record(key_alias="sales", stalls=0))
    before = series(_parsed(gateway))
    failed = _record(key_alias="sales", stalls=2, status="failed", error_code="internal")
    gateway.telemetry.metrics.observe(failed)
    new = {name for name, _ in series(_parsed(gateway)) - before}
    assert new == {  # only the failed run's duration: runs, errors and stalls existed
        "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_duration_seconds_count",
        "gen_ai_client_operation_duration_seconds_sum",
        "gen_ai_client_operation_duration_seconds_created",
    }
