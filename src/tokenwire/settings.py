"""Gateway settings: one frozen value object, loadable from TOML and ``TOKENWIRE_*`` env vars."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """How runs and streams behave; every field is also ``TOKENWIRE_<FIELD>`` in upper case.

    >>> Settings(disconnect_grace_seconds=0.5, heartbeat_seconds=15)
    """

    #: With ``on_disconnect=cancel``: how long a run with no subscriber waits for a rejoin.
    disconnect_grace_seconds: float = 2.0
    #: How long a finished run (status, output, event log) stays retrievable.
    retention_seconds: float = 600.0
    #: Runs kept at once (live and retained); past it the oldest finished run is evicted,
    #: and a new run is refused with 503 when every retained run is still live.
    max_runs: int = 10_000
    #: Events per run log; past it the run ends ``truncated`` (``budget_exceeded``).
    max_events_per_run: int = 100_000
    #: SSE comment sent when a stream has been idle this long.
    heartbeat_seconds: float = 10.0
    #: Adaptive coalescing: while tokens come faster than this, a stream writes at most once
    #: per interval (what arrived meanwhile shares the write; events keep their ids); the
    #: first token after a pause is written at once. 0 turns it off.
    coalesce_seconds: float = 0.005
    #: One SSE connection lasts at most this long; the client rejoins with Last-Event-ID.
    max_stream_seconds: float = 3600.0
    #: The SSE ``retry:`` hint, in milliseconds.
    retry_ms: int = 1000
    #: Show exception text of a failing runnable to clients (off: class name only).
    expose_errors: bool = False
    #: ``required`` (default): every request but probes, metrics and the static UI needs an
    #: API key or JWT; ``none``: no authentication at all — development only (warned at start).
    auth: str = "required"
    #: How often expired runs are swept.
    sweep_interval_seconds: float = 30.0
    #: On SIGTERM, how long live runs may still finish before they end ``incomplete_stream``.
    shutdown_grace_seconds: float = 10.0
    #: An inter-token gap longer than this counts as a stall (telemetry).
    stall_threshold_seconds: float = 1.0
    #: Token estimate when a provider reports no usage: ``heuristic`` or ``tiktoken``.
    token_estimator: str = "heuristic"
    #: Append one JSON line per finished run to this file (empty: off).
    telemetry_jsonl: str = ""
    #: OTLP/HTTP endpoint for traces and metrics, e.g. ``http://127.0.0.1:4318`` (empty: off;
    #: needs the ``otel`` extra).
    otlp_endpoint: str = ""
    #: Finished-run records waiting for exporters; past it records are dropped and counted.
    telemetry_queue_size: int = 10_000
    #: Write a hash-chained audit record per finished run (``create_app`` and
    #: ``tokenwire serve``; a ``Gateway`` built by hand audits only with ``audit=``).
    audit_enabled: bool = True
    #: Where local state lives; the default audit store is ``<data_dir>/audit.db`` (SQLite).
    #: Empty: ``$TOKENWIRE_DATA_DIR`` when set (also for ``Settings()`` built in code, so a
    #: test run can point every gateway elsewhere), else ``./data``.
    data_dir: str = ""
    #: SQLAlchemy async URL of the audit store, e.g. ``postgresql+asyncpg://host/db``
    #: (empty: SQLite under ``data_dir``).
    audit_url: str = ""
    #: PostgreSQL schema of the audit tables (empty: the connection's default schema).
    audit_schema: str = ""
    #: Delete audit records older than this many days, oldest first (0: keep forever).
    audit_retention_days: float = 0.0
    #: Finished runs waiting for the audit writer; past it records are dropped and logged.
    audit_queue_size: int = 10_000
    #: The largest request body, in bytes, on every HTTP front end — a declared
    #: Content-Length is checked before anything runs, a chunked body as it arrives — and
    #: the largest WebSocket message. Past it: 413 (a WebSocket closes with 1009).
    max_request_bytes: int = 1_048_576
    #: The largest request line plus headers, in bytes: past it, 431 and the connection
    #: closes (``tokenwire serve``/``demo`` and ``BackgroundServer``; so are the three below).
    max_header_bytes: int = 16_384
    #: A request's headers must arrive complete within this many seconds of its first byte
    #: (of connecting, for a connection's first request): past it, 408 and the connection
    #: closes, so a client that trickles headers (slowloris) cannot hold connections.
    header_timeout_seconds: float = 10.0
    #: A kept-alive connection with no request in progress closes after this many seconds.
    keep_alive_seconds: int = 5
    #: Fernet key (urlsafe base64, 32 bytes) that encrypts the raw input of runs on routes
    #: with ``audit_input = "encrypted"``; keep it out of the config file:
    #: ``TOKENWIRE_AUDIT_INPUT_KEY``. Needed by ``tokenwire audit decrypt``.
    audit_input_key: str = field(default="", repr=False)
    #: At start-up, take every object that exists then (imported libraries, routes, models)
    #: out of the garbage collector's passes (``gc.freeze``): a full pass then covers only
    #: what runs created, instead of stopping the event loop for tens of milliseconds.
    #: Process-wide and permanent, so off for a gateway embedded in someone else's process;
    #: ``tokenwire serve`` and ``tokenwire demo``, whose process is the gateway's, turn it on
    #: unless the configuration says otherwise.
    gc_freeze: bool = False

    #: Redis for running several replicas (workers) as one gateway, e.g.
    #: ``redis://127.0.0.1:6379/0``: run logs mirrored to Redis Streams, so a client can
    #: rejoin or cancel a run on any replica (empty: everything stays in this process;
    #: needs the ``redis`` extra).
    redis_url: str = ""
    #: Prefix of every Redis key, so several deployments can share one Redis.
    redis_prefix: str = "tokenwire"
    #: A replica that has not beaten its Redis heartbeat for this long is gone: its live
    #: runs end with ``incomplete_stream`` (clients retry or start over elsewhere).
    replica_ttl_seconds: float = 10.0

    def __post_init__(self) -> None:
        problems = [
            *(f"{name} must be > 0" for name in _POSITIVE if not getattr(self, name) > 0),
            *(f"{name} must be >= 0" for name in _NON_NEGATIVE if not getattr(self, name) >= 0),
            *(f"{name} must be >= 1" for name in _COUNTS if getattr(self, name) < 1),
            *(
                f"{name} must be one of {', '.join(map(repr, allowed))}"
                for name, allowed in _CHOICES.items()
                if getattr(self, name) not in allowed
            ),
        ]
        if self.redis_url and not self.redis_url.startswith(_REDIS_SCHEMES):
            problems.append("redis_url must start with redis://, rediss:// or unix://")
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))

    def __repr__(self) -> str:  # the URLs' passwords never show (in logs, tracebacks)
        shown = (
            f"{f.name}={_redacted(f.name, getattr(self, f.name))!r}" for f in fields(self) if f.repr
        )
        return f"Settings({', '.join(shown)})"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        return cls(**_coerced(values))

    @classmethod
    def from_env(
        cls, base: Settings | None = None, environ: Mapping[str, str] = os.environ
    ) -> Settings:
        """``base`` overridden by any ``TOKENWIRE_<FIELD>`` variables that are set."""
        found = {
            f.name: environ[f"TOKENWIRE_{f.name.upper()}"]
            for f in fields(cls)
            if f"TOKENWIRE_{f.name.upper()}" in environ
        }
        return (base or cls()).replace(**_coerced(found))


_POSITIVE = (
    "heartbeat_seconds",
    "max_stream_seconds",
    "sweep_interval_seconds",
    "stall_threshold_seconds",
    "replica_ttl_seconds",
    "header_timeout_seconds",
)
_NON_NEGATIVE = (
    "disconnect_grace_seconds",
    "retention_seconds",
    "coalesce_seconds",
    "shutdown_grace_seconds",
    "retry_ms",
    "audit_retention_days",
    "keep_alive_seconds",
)
_COUNTS = (
    "max_runs",
    "max_events_per_run",
    "telemetry_queue_size",
    "audit_queue_size",
    "max_request_bytes",
    "max_header_bytes",
)
_CHOICES = {"auth": ("required", "none"), "token_estimator": ("heuristic", "tiktoken")}
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


#: Settings that are URLs, which may carry credentials.
_URLS = ("redis_url", "audit_url", "otlp_endpoint")
#: ``scheme://user:password@`` (up to the last ``@`` of the authority) and secret query
#: parameters (``rediss://host?password=…``).
_URL_SECRETS = (
    (re.compile(r"://[^/?#]*@"), "://***@"),
    (re.compile(r"([?&](?:password|passwd|pass|token|secret)=)[^&#]*", re.IGNORECASE), r"\1***"),
)


def _redacted(name: str, value: Any) -> Any:
    if name not in _URLS or not value:
        return value
    for pattern, replacement in _URL_SECRETS:
        value = pattern.sub(replacement, value)
    return value


def _coerced(values: Mapping[str, Any]) -> dict[str, Any]:
    known = {f.name: f for f in fields(Settings)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
    return {k: _coerce(known[k].type, v) for k, v in values.items()}


def _coerce(annotation: Any, value: Any) -> Any:
    kind = str(annotation)
    if kind == "bool":
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    return value
