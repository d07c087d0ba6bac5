"""Reading a live gateway's ``/metrics`` the way Prometheus does: parsed, as series."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Families = dict[str, Any]


def families(client: httpx.Client) -> Families:
    """``/metrics`` in the classic text format, parsed into metric families by name."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.text)}


def sample(found: Families, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` with ``labels`` (among others: series start at
    zero for every status, error type…); an error when there is none."""
    values = [
        float(s.value)
        for family in found.values()
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    if not values:
        raise AssertionError(f"no sample {name} {labels}")
    return sum(values)


def series(found: Families) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """Every series of the exposition, as Prometheus would store them: name and labels."""
    return {
        (s.name, frozenset(s.labels.items())) for family in found.values() for s in family.samples
    }


def wait_for_metric(client: httpx.Client, name: str, minimum: float, **labels: str) -> Families:
    """The families once ``name`` with ``labels`` reaches ``minimum`` (exporters run after a
    run ends, in their own thread); an error after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        found = families(client)
        try:
            if sample(found, name, **labels) >= minimum:
                return found
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed below {minimum}")
        time.sleep(0.05)
