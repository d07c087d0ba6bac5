"""promtool on deploy/: the alert rules load, their unit tests pass and cover every alert both
ways, and every dashboard query parses as PromQL."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.deploy.prometheus import binary
from tests.deploy.promql import ALERTS, ALERTS_TEST, alert_rules, panel_queries


def _promtool(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [binary("promtool"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_alert_rules_load() -> None:
    out = _promtool("check", "rules", str(ALERTS))
    assert f"SUCCESS: {len(alert_rules())} rules found" in out, out


def test_the_alert_rules_unit_tests_pass() -> None:
    out = _promtool("test", "rules", ALERTS_TEST.name, cwd=ALERTS_TEST.parent)
    assert "SUCCESS" in out, out


def test_every_alert_has_a_case_that_fires_it_and_one_that_must_not() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    for rule in alert_rules():
        name = rule["alert"]
        fires = quiet = False
        for test in tests:
            cases = [c for c in test.get("alert_rule_test", ()) if c["alertname"] == name]
            expected = [a for case in cases for a in case["exp_alerts"]]
            fires = fires or bool(expected)
            quiet = quiet or any(not case["exp_alerts"] for case in cases)
            # Series of a route (or key alias) the alert must leave alone, beside the one it
            # fires for.
            firing = {v for a in expected for v in a["exp_labels"].values()}
            for series in test["input_series"] if cases else ():
                owners = re.findall(r'(?:route|key_alias)="([^"]+)"', series["series"])
                quiet = quiet or any(owner not in firing for owner in owners)
        assert fires, f"no test in {ALERTS_TEST.name} expects {name} to fire"
        assert quiet, f"no test in {ALERTS_TEST.name} expects {name} to stay silent"


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    # promtool parses the expressions of a rule file: one recording rule per panel query,
    # with Grafana's variables filled in as Grafana sends them.
    queries = panel_queries()
    rules = [{"record": f"dashboard_query_{i}", "expr": q.promql} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = _promtool("check", "rules", str(path))
    assert f"SUCCESS: {len(queries)} rules found" in out, out


def test_promtool_refuses_a_query_that_does_not_parse(tmp_path: Path) -> None:
    # The check above would pass vacuously if promtool accepted anything.
    path = tmp_path / "broken.yml"
    rule = {"record": "broken", "expr": "sum by (route) (rate(tokenwire_runs_total[1m])"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "broken", "rules": [rule]}]}))
    done = subprocess.run(
        [binary("promtool"), "check", "rules", str(path)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "unclosed left parenthesis" in done.stdout + done.stderr
