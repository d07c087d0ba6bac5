"""The metrics the dashboard and the alert rules are written against: the names and labels of
the OpenTelemetry GenAI conventions that ``telemetry/metrics.py`` exposes (issue 19).

The files in ``deploy/`` use only these names. The unit tests check that they do; the live
test checks the gateway's real ``/metrics`` has each one the files use — through
:data:`PENDING_RENAMES` while the rename is under way.
"""

from __future__ import annotations

__all__ = ["PENDING_RENAMES", "contract_labels", "exposed_as"]

ATTRIBUTION = (
    "route",
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "key_alias",
    "cohort",
    "protocol",
)

#: Histograms by family name: their samples are ``_bucket`` (with ``le``), ``_sum``, ``_count``.
HISTOGRAMS: dict[str, tuple[str, ...]] = {
    "gen_ai_client_operation_time_to_first_chunk_seconds": ATTRIBUTION,
    "gen_ai_client_operation_time_per_output_chunk_seconds": ATTRIBUTION,
    "gen_ai_client_operation_duration_seconds": (*ATTRIBUTION, "status"),
    "gen_ai_client_token_usage": (*ATTRIBUTION, "gen_ai_token_type", "estimated"),
}

#: Counters and gauges by sample name.
SAMPLES: dict[str, tuple[str, ...]] = {
    "tokenwire_runs_total": (*ATTRIBUTION, "status"),
    "tokenwire_errors_total": (*ATTRIBUTION, "error_type"),
    "tokenwire_cost_usd_total": ATTRIBUTION,
    "tokenwire_stalls_total": ATTRIBUTION,
    "tokenwire_active_streams": ("route",),
}

#: Contract label → the name ``telemetry/metrics.py`` on main still exposes it under (``None``:
#: not exposed yet). THE ONE SWITCH FOR THE LABEL RENAME: empty it when the rename lands; the
#: live test fails while an entry names a label the gateway already exposes by its contract
#: name, so a stale entry cannot linger.
PENDING_RENAMES: dict[str, str | None] = {}


def contract_labels(sample: str) -> frozenset[str] | None:
    """The labels the contract gives ``sample`` (a sample name such as ``…_bucket``), or
    ``None`` when it is not a contract metric."""
    if sample in SAMPLES:
        return frozenset(SAMPLES[sample])
    for suffix, extra in (("_bucket", ("le",)), ("_sum", ()), ("_count", ())):
        family = sample.removesuffix(suffix)
        if family != sample and family in HISTOGRAMS:
            return frozenset((*HISTOGRAMS[family], *extra))
    return None


def exposed_as(label: str) -> str | None:
    """What the gateway calls the contract's ``label`` today (``None``: not exposed yet)."""
    return PENDING_RENAMES.get(label, label)
