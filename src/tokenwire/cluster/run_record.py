"""A run's record in Redis: what another replica needs to serve, end or audit the run.

The owner writes the record whole every time (at start, at the end, after a Redis restart),
so it is never left with some fields only; a reader still treats a record it cannot use
(missing or invalid fields) as an unknown run, never as an error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, get_args

import orjson

from tokenwire import plain_json
from tokenwire.cluster.remote import RemoteRun
from tokenwire.events import RunStatus
from tokenwire.routes import DisconnectPolicy
from tokenwire.runs.run import Run

if TYPE_CHECKING:
    from tokenwire.broker.redis import FollowedEventLog

__all__ = ["FIELDS", "INPUT", "decode_input", "encode_input", "record_of", "remote_run"]

log = logging.getLogger("tokenwire.cluster")

#: The fields read back (``HMGET``, in this order); the input is read only to audit.
FIELDS = (
    "route",
    "owner",
    "replica",
    "status",
    "trace_id",
    "created_at",
    "ended_at",
    "on_disconnect",
    "metadata",
    "fingerprint",
    "cohort",
    "variant",
)
#: The request input of a live run, kept only when the gateway audits (for the audit record
#: of a run whose replica dies); removed when the run ends.
INPUT = "input"
_POLICIES = frozenset(get_args(DisconnectPolicy))


def record_of(run: Run, replica: str) -> dict[str, str | bytes]:
    record: dict[str, str | bytes] = {
        "route": run.route,
        "owner": run.owner or "",
        "replica": replica,
        "status": run.status.value,
        "trace_id": run.trace_id,
        "created_at": repr(run.created_at),
        "on_disconnect": run.on_disconnect,
        "metadata": _metadata(run),
        "fingerprint": run.fingerprint or "",
        # What a rollout assigned: another replica's feedback and orphan sweep need it.
        "cohort": run.cohort,
        "variant": run.variant,
    }
    if run.done:
        record["ended_at"] = repr(run.ended_at if run.ended_at is not None else run.created_at)
    return record


def remote_run(run_id: str, fields: dict[str, str], log_: FollowedEventLog) -> RemoteRun | None:
    """The run ``fields`` describe, followed through ``log_``; None (logged) if the record
    is unusable."""
    try:
        policy = fields["on_disconnect"]
        metadata = orjson.loads(fields["metadata"])
        if policy not in _POLICIES or not isinstance(metadata, dict):
            raise ValueError(f"on_disconnect {policy!r}, metadata of type {type(metadata)}")
        run = RemoteRun(
            id=run_id,
            route=fields["route"],
            log=log_,
            on_disconnect=policy,  # type: ignore[arg-type]
            grace_seconds=0.0,
            trace_id=fields["trace_id"],
            metadata=metadata,
            owner=fields.get("owner") or None,
            fingerprint=fields.get("fingerprint") or None,
            created_at=float(fields["created_at"]),
            cohort=fields.get("cohort") or "stream",  # a record from before rollouts
            variant=fields.get("variant") or "stable",
        )
        RunStatus(fields["status"])
    except (KeyError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        log.warning("run %s: its record in Redis is unusable (%r); treated as unknown", run_id, exc)
        return None
    return run


def encode_input(input: Any) -> bytes:
    """``input`` as plain JSON, made plain as the audit makes it (``plain_json``)."""
    return plain_json.dumps(input)


def decode_input(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)


def _metadata(run: Run) -> bytes:
    """The metadata as plain JSON: what orjson refuses is escaped, never failing the run."""
    return plain_json.dumps(run.metadata)
