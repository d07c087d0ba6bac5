"""The PromQL in ``deploy/``: the dashboard's panel queries and the alert rules' expressions,
and the metric and label names each one uses.

The names are read with regular expressions, which is enough for queries we write ourselves
(no strings holding braces, no recording-rule names); promtool and a real Prometheus parse
them for real in the other tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ALERTS",
    "ALERTS_TEST",
    "DASHBOARD",
    "Query",
    "alert_queries",
    "alert_rules",
    "all_panels",
    "dashboard",
    "label_values",
    "panel_queries",
]

DEPLOY = Path(__file__).parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "tokenwire.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yml"

#: What Grafana puts in for the dashboard's variables when it sends a query; the tests send
#: the same to Prometheus ("All" for each filter, windows a short test fills).
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "5m",
    "$route": ".*",
    "$model": ".*",
    "$cohort": ".*",
}

_SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_METRIC = re.compile(r"\b((?:gen_ai|tokenwire)_\w+)\b")


@dataclass(frozen=True)
class Query:
    """One PromQL expression in ``deploy/`` and where it is (``where`` names it in failures)."""

    where: str
    expr: str

    @property
    def promql(self) -> str:
        """The expression as Prometheus receives it: Grafana's variables filled in."""
        text = self.expr
        for name, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(name, value)
        return text

    def metrics(self) -> frozenset[str]:
        """Sample names the expression selects."""
        text = _GROUPING.sub(" ", re.sub(r"\{[^}]*\}", " ", self.expr))
        return frozenset(_METRIC.findall(text))

    def matchers(self) -> dict[str, frozenset[str]]:
        """Per selected metric, the label names its matchers use (``{route=~"…"}``)."""
        found: dict[str, set[str]] = {}
        for metric, inside in _SELECTOR.findall(self.expr):
            found.setdefault(metric, set()).update(_MATCHER.findall(inside))
        return {metric: frozenset(labels) for metric, labels in found.items()}

    def grouping_labels(self) -> frozenset[str]:
        """Label names in ``by (…)``, ``on (…)`` and the like."""
        names = (n.strip() for group in _GROUPING.findall(self.expr) for n in group.split(","))
        return frozenset(n for n in names if n)

    def labels(self) -> frozenset[str]:
        return self.grouping_labels().union(*self.matchers().values())


def panel_queries() -> list[Query]:
    """Every panel target's ``expr`` in the dashboard, rows' nested panels included."""
    queries = []
    for panel in _panels(dashboard()["panels"]):
        for target in panel.get("targets", ()):
            where = f"panel {panel['title']!r} target {target['refId']}"
            queries.append(Query(where, target["expr"]))
    return queries


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group in ``alerts.yml``."""
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def alert_queries() -> list[Query]:
    return [Query(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def label_values(definition: str) -> tuple[str, str]:
    """(metric, label) of a Grafana variable's ``label_values(metric, label)``."""
    match = re.fullmatch(r"label_values\((\w+), (\w+)\)", definition)
    assert match is not None, definition
    return match[1], match[2]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def all_panels() -> list[dict[str, Any]]:
    return list(_panels(dashboard()["panels"]))


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for panel in panels:
        flat.append(panel)
        flat.extend(_panels(panel.get("panels", [])))
    return flat
