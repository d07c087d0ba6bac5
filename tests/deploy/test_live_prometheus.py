"""A real Prometheus scraping a live gateway (ChatOpenAI → the mock provider): the dashboard's
queries answer with data, the alert rules evaluate without error, and every metric and label
the dashboard and the alerts use is on the gateway's real /metrics."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.contract import PENDING_RENAMES, contract_labels, exposed_as
from tests.deploy.prometheus import PrometheusProcess, start_prometheus
from tests.deploy.promql import (
    ALERTS,
    Query,
    alert_queries,
    dashboard,
    label_values,
    panel_queries,
)
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect, iter_sse, poll_until, start_stream
from tokenwire.usage.pricing import PriceTable

#: A dollar a token ("mock" prices every mock model): a few runs burn past the cost alert's
#: 10 USD an hour.
PRICES = PriceTable({"mock": {"input": 1e6, "output": 1e6}})
#: Routes whose runs give every metric the dashboard shows a series: priced (cost), a pause
#: of 0.4 s past a 0.15 s stall threshold (stalls), a connection dropped mid-answer (errors).
FINISHING_ROUTES = ("chat", "stalls", "broken")
V = TypeVar("V")


@dataclass
class Stack:
    gateway: httpx.Client
    prometheus: PrometheusProcess


@pytest.fixture
def gateway(mock_url: str, tmp_path: Path) -> Iterator[BackgroundServer]:
    base = f"{mock_url}/v1"
    routes = [
        Route("chat", demo_model(base)),
        Route("stalls", demo_model(base, "tokens=6,fault=stall:2:0.4")),
        Route("broken", demo_model(base, "tokens=8,fault=drop:3")),
        Route("slow", demo_model(base, "itl=200,tokens=500")),
    ]
    settings = Settings(auth="none", stall_threshold_seconds=0.15, data_dir=str(tmp_path))
    with BackgroundServer(create_app(Gateway(routes, settings, prices=PRICES))) as server:
        yield server


@pytest.fixture
def start_stack(gateway: BackgroundServer, tmp_path: Path) -> Iterator[Callable[[Path], Stack]]:
    """``start_stack(rule_file)``: a Prometheus scraping ``gateway``, evaluating the rules."""
    started: list[PrometheusProcess] = []
    clients: list[httpx.Client] = []

    def start(rule_file: Path) -> Stack:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        started.append(start_prometheus(workdir, [f"127.0.0.1:{gateway.port}"], [rule_file]))
        clients.append(httpx.Client(base_url=gateway.url, timeout=30))
        return Stack(clients[-1], started[-1])

    yield start
    for client in clients:
        client.close()
    for prometheus in started:
        prometheus.stop()


def _scraped(prometheus: PrometheusProcess) -> bool:
    targets = prometheus.api("targets")["activeTargets"]
    return bool(targets) and all(t["health"] == "up" for t in targets)


def _routes_seen(prometheus: PrometheusProcess, expr: str) -> set[str]:
    return {s["metric"].get("route", "") for s in prometheus.query(expr)}


def _finite(samples: list[dict[str, Any]]) -> dict[str, float]:
    values = {s["metric"].get("route", ""): float(s["value"][1]) for s in samples}
    return {route: value for route, value in values.items() if math.isfinite(value)}


def _covering(
    read: Callable[[], dict[str, V]], keys: Collection[str]
) -> Callable[[], dict[str, V] | None]:
    """A probe for ``poll_until``: what ``read()`` returns once it has every key, else None."""

    def probe() -> dict[str, V] | None:
        found = read()
        return found if found.keys() >= set(keys) else None

    return probe


def _first_runs_scraped(stack: Stack) -> None:
    """Once Prometheus scrapes the gateway, a run per route, scraped too: a rate needs its
    series to exist before it grows."""
    prom = stack.prometheus
    poll_until(lambda: _scraped(prom), timeout=30, interval=0.2, message="target never up")
    _runs(stack, 1)
    poll_until(
        lambda: _routes_seen(prom, "tokenwire_runs_total") >= set(FINISHING_ROUTES),
        timeout=30,
        interval=0.2,
        message="the first runs were never scraped",
    )


def _panel(title: str, ref_id: str = "A") -> Query:
    (query,) = [q for q in panel_queries() if q.where == f"panel {title!r} target {ref_id}"]
    return query


def _runs(stack: Stack, count: int) -> None:
    for route in FINISHING_ROUTES:
        for i in range(count):
            collect(stack.gateway, route, {"input": f"question {i} for {route}"})


def test_the_dashboard_answers_from_a_prometheus_scraping_a_live_gateway(
    start_stack: Callable[[Path], Stack],
) -> None:
    stack = start_stack(ALERTS)
    prom = stack.prometheus
    _first_runs_scraped(stack)
    _runs(stack, 3)

    ttft_p95 = _panel("Time to first token by route", "B")
    assert "0.95" in ttft_p95.expr
    by_route = poll_until(
        _covering(lambda: _finite(prom.query(ttft_p95.promql)), {"chat"}),
        timeout=30,
        interval=0.2,
        message=lambda: f"TTFT p95 by route stayed empty: {prom.query(ttft_p95.promql)}",
    )
    assert 0 < by_route["chat"] <= 81.92  # within the histogram's buckets

    statuses = {s["metric"]["status"] for s in prom.query(_panel("Runs by status").promql)}
    assert {"completed", "failed"} <= statuses
    stalls = _finite(prom.query(_panel("Stalls per run by route").promql))
    assert stalls.get("stalls", 0) > 0, stalls
    spend = prom.query(_panel("Spend by department").promql)
    assert spend and float(spend[0]["value"][1]) > 0, spend

    # The dashboard's filters: label_values(metric, label) is Grafana asking this.
    for variable in [v for v in dashboard()["templating"]["list"] if v["type"] == "query"]:
        metric, label = label_values(variable["definition"])
        name = exposed_as(label)
        if name is not None:
            values = prom.api(f"label/{name}/values", **{"match[]": metric})
            assert values, f"${variable['name']}: no {name} on {metric} (see PENDING_RENAMES)"
            assert variable["name"] != "route" or "chat" in values, values

    # A stream generating now is an active stream on the dashboard until it ends.
    active = _panel("Active streams by route")
    with start_stream(stack.gateway, "slow", {"input": "take your time"}) as response:
        run_id = response.headers["x-run-id"]
        next(e for e in iter_sse(response) if e.event == "token")
        poll_until(
            lambda: _finite(prom.query(active.promql)).get("slow") == 1,
            timeout=30,
            interval=0.2,
            message=lambda: (
                f"active streams never showed the live run: {prom.query(active.promql)}"
            ),
        )
        stack.gateway.post(f"/v1/runs/{run_id}/cancel")

    # Every query on the dashboard and in the rules is one Prometheus runs on live data.
    for query in [*panel_queries(), *alert_queries()]:
        prom.query(query.promql)
    _assert_rules_evaluate(prom)


def _assert_rules_evaluate(prom: PrometheusProcess) -> None:
    def evaluated() -> list[dict[str, Any]] | None:
        rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
        # A rule never evaluated reports the zero time, 0001-01-01T00:00:00Z.
        done = rules and all(not r["lastEvaluation"].startswith("0001") for r in rules)
        return rules if done else None

    rules = poll_until(evaluated, timeout=30, interval=0.2, message="rules never evaluated")
    assert {r["name"] for r in rules} == {q.where.removeprefix("alert ") for q in alert_queries()}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_the_alerts_fire_on_what_a_live_gateway_reports(
    start_stack: Callable[[Path], Stack], tmp_path: Path
) -> None:
    # alerts.yml without its "for" (minutes a condition must last), so the conditions of
    # the stall and cost alerts, met by a few seconds of live runs, fire at once.
    text, waits = re.subn(r"(?m)^(\s+for:) \d+m$", r"\1 0s", ALERTS.read_text())
    assert waits == len(alert_queries())
    (tmp_path / "alerts_now.yml").write_text(text)
    stack = start_stack(tmp_path / "alerts_now.yml")
    _first_runs_scraped(stack)
    # Past the alerts' 20-run floor: "stalls" stalls once a run, "chat" never.
    for i in range(21):
        collect(stack.gateway, "stalls", {"input": f"stall number {i}"})
        collect(stack.gateway, "chat", {"input": f"answer number {i}"})

    def firing() -> dict[str, list[dict[str, str]]] | None:
        alerts = stack.prometheus.api("alerts")["alerts"]
        by_name: dict[str, list[dict[str, str]]] = {}
        for alert in alerts:
            if alert["state"] == "firing":
                by_name.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
        return by_name if {"TokenwireStallRate", "TokenwireCostBurn"} <= by_name.keys() else None

    fired = poll_until(
        firing,
        timeout=30,
        interval=0.2,
        message=lambda: f"alerts: {stack.prometheus.api('alerts')['alerts']}",
    )
    assert [a["route"] for a in fired["TokenwireStallRate"]] == ["stalls"]
    spent = stack.prometheus.query("tokenwire_cost_usd_total > 0")
    spenders = {s["metric"]["key_alias"] for s in spent}
    assert spenders
    assert {a["key_alias"] for a in fired["TokenwireCostBurn"]} == spenders
    # No day of history, no incomplete stream: the other two stay silent.
    assert fired.keys() == {"TokenwireStallRate", "TokenwireCostBurn"}


def test_the_gateway_exposes_every_metric_and_label_the_dashboard_and_alerts_use(
    gateway: BackgroundServer,
) -> None:
    used: dict[str, set[str]] = {}
    for query in [*panel_queries(), *alert_queries()]:
        for metric in query.metrics():
            offered = contract_labels(metric) or frozenset()
            used.setdefault(metric, set()).update(query.labels() & offered)
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for route in FINISHING_ROUTES:
            collect(client, route, {"input": f"one run of {route}"})
        exposed = poll_until(
            _covering(lambda: _exposed(client), used.keys()),
            timeout=10,
            interval=0.05,
            message=lambda: f"not on /metrics: {sorted(used.keys() - _exposed(client).keys())}",
        )
    # THE SWITCH: a pending rename the gateway already made is a stale entry.
    now_exposed = {label for labels in exposed.values() for label in labels}
    stale = sorted(label for label in PENDING_RENAMES if label in now_exposed)
    assert not stale, f"the gateway exposes {stale}: remove them from PENDING_RENAMES"
    for metric, labels in sorted(used.items()):
        for label in sorted(labels):
            name = exposed_as(label)
            if name is not None:
                assert name in exposed[metric], f"{metric} has no label {name} ({label})"


def _exposed(client: httpx.Client) -> dict[str, set[str]]:
    """Every sample name on /metrics with the label names its samples carry."""
    text = client.get("/metrics").text
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found
