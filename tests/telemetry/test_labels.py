"""What Prometheus series are labelled with: the GenAI attribute names, the protocol a run
came by, a bounded caller label — never a user — and series that exist before any run."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from tests.protocols.test_cross_protocol import _ai_sdk, _langserve, _openai, _route, _websocket
from tests.security.conftest import JWT_SECRET, token
from tests.telemetry.scrape import Families, families, sample, series, wait_for_metric
from tokenwire.config import Settings
from tokenwire.routes import Route
from tokenwire.security.credentials import Credentials
from tokenwire.testing import ScriptedChatModel, collect, failing_turn, text_turn
from tokenwire.testing import serve as serve_gateway

Serve = Callable[..., httpx.Client]
ATTRIBUTION = {
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "route",
    "cohort",
    "protocol",
    "key_alias",
}
DEPARTMENTS = ("sales", "support", "eng", None)  # None: the token has no department claim


def _reporting() -> ScriptedChatModel:
    """Streams two tokens and reports its usage, as a provider does."""
    return ScriptedChatModel(turns=[text_turn("a", "b", usage=(3, 2))])


def _start_as(client: httpx.Client, user: int) -> None:
    department = DEPARTMENTS[user % len(DEPARTMENTS)]
    claims = {} if department is None else {"department": department}
    bearer = {"Authorization": f"Bearer {token(f'user-{user}@example.com', **claims)}"}
    response = client.post("/v1/routes/chat/runs", json={"input": "hi"}, headers=bearer)
    assert response.status_code == 202, response.text


def _runs_of(client: httpx.Client, users: range) -> Families:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda user: _start_as(client, user), users))
    return wait_for_metric(client, "tokenwire_runs_total", users.stop, status="completed")


def test_a_thousand_jwt_users_make_no_more_series_than_twenty(tmp_path: Any) -> None:
    # Real tokens signed with the test key, real requests against a live gateway: the
    # label comes from the authenticated principal, as it does in production.
    credentials = Credentials(jwt_secret=JWT_SECRET, jwt_department_claim="department")
    settings = Settings(data_dir=str(tmp_path), audit_enabled=False)
    with serve_gateway([Route("chat", _reporting())], settings, credentials=credentials) as client:
        few = series(_runs_of(client, range(20)))
        many_families = _runs_of(client, range(20, 1000))
    many = series(many_families)
    assert many == few
    assert sample(many_families, "tokenwire_runs_total", route="chat") == 1000
    aliases = {dict(labels).get("key_alias") for _, labels in many} - {None}
    assert aliases == {"sales", "support", "eng", "jwt"}
    values = {value for _, labels in many for _, value in labels}
    assert not any("example.com" in value or "user-" in value for value in values)


def test_an_allow_list_folds_every_other_caller_into_other(tmp_path: Any) -> None:
    credentials = Credentials(jwt_secret=JWT_SECRET, jwt_department_claim="department")
    settings = Settings(
        data_dir=str(tmp_path), audit_enabled=False, metrics_key_aliases=("sales", "support")
    )
    with serve_gateway([Route("chat", _reporting())], settings, credentials=credentials) as client:
        found = _runs_of(client, range(8))
    runs = "tokenwire_runs_total"
    assert sample(found, runs, key_alias="sales", status="completed") == 2
    assert sample(found, runs, key_alias="support", status="completed") == 2
    assert sample(found, runs, key_alias="other", status="completed") == 4  # eng and jwt
    aliases = {dict(labels).get("key_alias") for _, labels in series(found)} - {None}
    assert aliases == {"sales", "support", "other"}


def test_every_per_run_series_carries_the_genai_names(serve: Serve) -> None:
    failing = ScriptedChatModel(turns=[failing_turn(RuntimeError("provider down"))])
    client = serve([Route("chat", _reporting()), Route("broken", failing)])
    collect(client, "chat", {"input": "x"})
    end = collect(client, "broken", {"input": "x"})[-1].data
    code = end["error"]["code"]
    found = wait_for_metric(client, "tokenwire_errors_total", 1, route="broken", error_type=code)
    per_run = [
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_operation_time_per_output_chunk_seconds",
        "gen_ai_client_operation_duration_seconds",
        "gen_ai_client_token_usage",
        "tokenwire_runs",
        "tokenwire_errors",
        "tokenwire_cost_usd",
        "tokenwire_stalls",
    ]
    for name in per_run:
        for s in found[name].samples:
            assert s.labels.keys() >= ATTRIBUTION, (name, s.labels)
            assert not {"model", "provider", "code"} & s.labels.keys()
    assert {s.labels["error_type"] for s in found["tokenwire_errors"].samples} >= {code}
    assert sample(found, "tokenwire_runs_total", route="chat", status="completed") == 1


def test_token_usage_says_whether_the_provider_reported_it(serve: Serve) -> None:
    silent = ScriptedChatModel(turns=[text_turn("a", "b")])  # reports no usage
    client = serve([Route("reported", _reporting()), Route("guessed", silent)])
    collect(client, "reported", {"input": "x"})
    collect(client, "guessed", {"input": "x"})
    usage = "gen_ai_client_token_usage_count"
    found = wait_for_metric(client, usage, 2, route="guessed", estimated="true")
    assert sample(found, usage, route="reported", estimated="false") == 2  # input, output
    with pytest.raises(AssertionError, match="no sample"):  # reported: never estimated
        sample(found, usage, route="reported", estimated="true")
    assert sample(found, usage, route="guessed", estimated="false") == 0
    output_sum = "gen_ai_client_token_usage_sum"
    assert sample(found, output_sum, route="reported", gen_ai_token_type="output") == 2


def test_latency_histograms_carry_the_runs_trace_id_as_an_exemplar(serve: Serve) -> None:
    model = ScriptedChatModel(turns=[text_turn("a", "b", "c", usage=(3, 3))])
    client = serve([Route("chat", model)])
    trace_id = collect(client, "chat", {"input": "x"})[0].data["trace_id"]
    wait_for_metric(client, "tokenwire_runs_total", 1, route="chat", status="completed")
    plain = client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert trace_id not in plain.text  # the classic format has no exemplars
    answer = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    parsed = openmetrics_families(answer.text)  # type: ignore[no-untyped-call]
    found = {f.name: f for f in parsed}
    for family in (
        "gen_ai_client_operation_time_to_first_chunk_seconds",
        "gen_ai_client_operation_time_per_output_chunk_seconds",
        "gen_ai_client_operation_duration_seconds",
    ):
        exemplars = [s.exemplar for s in found[family].samples if s.exemplar is not None]
        assert [e.labels for e in exemplars] == [{"trace_id": trace_id}], family


@pytest.mark.parametrize(
    ("protocol", "start"),
    [
        ("native", lambda client: collect(client, "pii", {"input": "x"})),
        ("openai", _openai),
        ("langserve", _langserve),
        ("ai_sdk", _ai_sdk),
        ("ws", _websocket),
    ],
)
def test_runs_are_labelled_with_the_protocol_they_came_by(
    serve: Serve, protocol: str, start: Callable[[httpx.Client], object]
) -> None:
    client = serve([_route()])
    start(client)
    found = wait_for_metric(client, "tokenwire_runs_total", 1, route="pii", protocol=protocol)
    assert sample(found, "tokenwire_runs_total", route="pii") == 1
    assert families(client)  # the exposition still parses with every protocol's series
