"""deploy/grafana/tokenwire.json and deploy/prometheus/alerts.yml, read as files: the shape
Grafana imports, and only the label contract's metric and label names in every query."""

from __future__ import annotations

import re

import pytest

from tests.deploy.contract import contract_labels
from tests.deploy.promql import (
    GRAFANA_VARIABLES,
    Query,
    alert_queries,
    alert_rules,
    all_panels,
    dashboard,
    label_values,
    panel_queries,
)

QUERIES = [*panel_queries(), *alert_queries()]


def test_every_panel_has_a_unique_id_a_place_and_the_datasource_variable() -> None:
    panels = all_panels()
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), ids
    titles = [panel["title"] for panel in panels]
    assert len(titles) == len(set(titles)), titles
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(ref_ids) == len(set(ref_ids)), panel["title"]
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])


def test_no_two_panels_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels():
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                other = cells.setdefault((x, y), panel["title"])
                assert other == panel["title"], f"{panel['title']!r} overlaps {other!r}"


def test_the_dashboard_covers_what_issue_19_asks_for() -> None:
    titles = " | ".join(panel["title"] for panel in all_panels()).lower()
    for subject in ("first token", "inter-token", "failed", "errors", "stalls", "department"):
        assert subject in titles, subject
    for subject in ("active streams", "cohort", "incomplete"):
        assert subject in titles, subject
    grouped = {label for query in panel_queries() for label in query.grouping_labels()}
    assert {"route", "gen_ai_request_model", "key_alias", "cohort"} <= grouped


def test_queries_use_only_variables_the_dashboard_defines() -> None:
    defined = {f"${v['name']}" for v in dashboard()["templating"]["list"]}
    for query in panel_queries():
        used = set(re.findall(r"\$\w+", query.expr))
        assert used <= defined | set(GRAFANA_VARIABLES), (query.where, used)
        assert "$" not in query.promql, query.where


def _violations(query: Query) -> list[str]:
    """What in ``query`` is not the label contract's: metrics, and labels its metrics lack."""
    metrics = query.metrics()
    if not metrics:
        return ["it selects no tokenwire metric"]
    problems = [f"{m} is not a contract metric" for m in metrics if contract_labels(m) is None]
    offered = set().union(*(contract_labels(m) or () for m in metrics))
    for metric, used in query.matchers().items():
        problems += [
            f"{metric} has no {label}" for label in used - (contract_labels(metric) or set())
        ]
    problems += [f"no metric has {label}" for label in query.grouping_labels() - offered]
    return problems


@pytest.mark.parametrize("query", QUERIES, ids=[q.where for q in QUERIES])
def test_every_query_uses_contract_metrics_and_labels_only(query: Query) -> None:
    assert _violations(query) == [], query.where


def test_a_query_on_todays_label_names_is_refused() -> None:
    # The names telemetry/metrics.py exposed before the rename, and a made-up metric.
    old = Query("old", 'sum by (model) (rate(tokenwire_errors_total{code="x"}[1m]))')
    assert _violations(old) == ["tokenwire_errors_total has no code", "no metric has model"]
    assert _violations(Query("typo", "rate(tokenwire_run_total[1m])")) == [
        "tokenwire_run_total is not a contract metric"
    ]


def test_the_variables_select_contract_labels() -> None:
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        metric, label = label_values(variable["definition"])
        assert label in (contract_labels(metric) or ()), variable["name"]


def test_every_alert_says_what_it_is_and_how_bad() -> None:
    rules = alert_rules()
    names = {rule["alert"] for rule in rules}
    assert len(names) == len(rules)
    assert {
        "TokenwireTTFTP95Regression",
        "TokenwireStallRate",
        "TokenwireIncompleteStreamRate",
        "TokenwireCostBurn",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
