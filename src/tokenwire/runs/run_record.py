"""A run's record in Redis: what another replica needs to serve, end or audit the run.

The owner writes the record whole every time (at start, at the end, after a Redis restart),
so it is never left with some fields only; a reader still treats a record it cannot use
(missing or invalid fields) as an unknown run, never as an error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, get_args

import orjson

from tokenwire.events import RunStatus
from tokenwire.routes import DisconnectPolicy
from tokenwire.runs.remote import RemoteRun
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
)
#: The request input of a live run, kept only when the gateway audits (for the audit record
#: of a run whose replica dies); removed when the run ends.
INPUT = "input"
_POLICIES = frozenset(get_args(DisconnectPolicy))
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS


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
        )
        RunStatus(fields["status"])
    except (KeyError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        log.warning("run %s: its record in Redis is unusable (%r); treated as unknown", run_id, exc)
        return None
    return run


def encode_input(input: Any) -> bytes | None:
    """``input`` as the audit would record it (plain JSON); None if it has no JSON form."""
    try:
        return orjson.dumps(input, default=str, option=_JSON_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        log.warning("a run's input cannot be kept in Redis for its audit record: %s", exc)
        return None


def decode_input(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)


def _metadata(run: Run) -> bytes:
    """The metadata as JSON; entries with no JSON form (nested too deep, lone surrogates)
    are left out of the shared copy, never failing the run."""
    try:
        return orjson.dumps(run.metadata, default=str, option=_JSON_OPTIONS)
    except TypeError:
        pass
    kept: dict[str, Any] = {}
    for name, value in run.metadata.items():
        try:
            orjson.dumps({name: value}, default=str, option=_JSON_OPTIONS)
        except TypeError:
            log.warning("run %s: metadata %r has no JSON form; not shared", run.id, name)
            continue
        kept[name] = value
    return orjson.dumps(kept, default=str, option=_JSON_OPTIONS)
