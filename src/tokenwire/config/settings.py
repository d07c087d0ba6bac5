"""Gateway settings: one frozen model, from keyword arguments, ``TOKENWIRE_*`` environment
variables and ``tokenwire.toml``'s ``[gateway]`` table, in that order (see
:mod:`tokenwire.config.layered`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from typing import Any, Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator

from tokenwire.config.layered import LayeredSettings

__all__ = ["BUILT_IN_EXPORTERS", "GENAI_TIME_BUCKETS", "GENAI_TOKEN_BUCKETS", "Settings"]

#: The OpenTelemetry GenAI conventions' boundaries of ``gen_ai.client.operation.duration``,
#: ``…time_to_first_chunk`` and ``…time_per_output_chunk``, in seconds.
GENAI_TIME_BUCKETS = (
    *(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64),
    *(1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92),
)
#: …and of ``gen_ai.client.token.usage``: 1, 4, 16, … 67108864.
GENAI_TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))


class Settings(LayeredSettings):
    """How runs and streams behave; every field is also ``TOKENWIRE_<FIELD>`` in upper case.

    >>> Settings(disconnect_grace_seconds=0.5, heartbeat_seconds=15)

    ``redis_url``, ``audit_url``, ``audit_input_key`` and ``stream_token_secret`` are
    :class:`~pydantic.SecretStr`: read them with ``.get_secret_value()``; a ``repr`` shows
    the URLs without their passwords and the keys not at all.
    """

    #: With ``on_disconnect=cancel``: how long a run with no subscriber waits for a rejoin.
    disconnect_grace_seconds: float = Field(default=2.0, ge=0)
    #: How long a finished run (status, output, event log) stays retrievable.
    retention_seconds: float = Field(default=600.0, ge=0)
    #: Runs kept at once (live and retained); past it the oldest finished run is evicted,
    #: and a new run is refused with 503 when every retained run is still live.
    max_runs: int = Field(default=10_000, ge=1)
    #: Events per run log; past it the run ends ``truncated`` (``budget_exceeded``).
    max_events_per_run: int = Field(default=100_000, ge=1)
    #: SSE comment sent when a stream has been idle this long.
    heartbeat_seconds: float = Field(default=10.0, gt=0)
    #: Adaptive coalescing: while tokens come faster than this, a stream writes at most once
    #: per interval (what arrived meanwhile shares the write; events keep their ids); the
    #: first token after a pause is written at once. 0 turns it off.
    coalesce_seconds: float = Field(default=0.005, ge=0)
    #: One SSE connection lasts at most this long; the client rejoins with Last-Event-ID.
    max_stream_seconds: float = Field(default=3600.0, gt=0)
    #: The SSE ``retry:`` hint, in milliseconds.
    retry_ms: int = Field(default=1000, ge=0)
    #: Show exception text of a failing runnable to clients (off: class name only).
    expose_errors: bool = False
    #: OpenAI Chat Completions: a request parameter its route cannot honour (``tools`` on a
    #: chain, ``logprobs``, an unknown field) is a 400 naming it; on, it is ignored instead
    #: (named in the ``X-Tokenwire-Ignored-Params`` header), for clients that send defaults.
    ignore_unsupported_params: bool = False
    #: ``required`` (default): every request but probes, metrics and the static UI needs an
    #: API key or JWT; ``none``: no authentication at all — development only (warned at start).
    auth: Literal["required", "none"] = "required"
    #: Browser origins allowed to call the gateway from their pages (CORS), each exactly
    #: ``scheme://host[:port]``, e.g. ``["https://app.example.com"]``; credentials are
    #: allowed, so ``*`` is refused. Empty (default): no CORS headers at all.
    cors_origins: tuple[str, ...] = ()
    #: How long a stream token (``POST /v1/runs/{id}/stream-token``, for ``EventSource``,
    #: which cannot send headers) stays valid.
    stream_token_ttl_seconds: float = Field(default=300.0, gt=0, le=86_400)
    #: The HMAC key that signs stream tokens (at least 32 characters), the same on every
    #: replica: ``TOKENWIRE_STREAM_TOKEN_SECRET``. Empty: a random key per process, which
    #: is fine for one process; with ``redis_url`` (replicas) stream tokens need it.
    stream_token_secret: SecretStr = Field(default=SecretStr(""), repr=False)
    #: How often expired runs are swept.
    sweep_interval_seconds: float = Field(default=30.0, gt=0)
    #: On SIGTERM, how long live runs may still finish before they end ``incomplete_stream``.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    #: An inter-token gap longer than this counts as a stall (telemetry).
    stall_threshold_seconds: float = Field(default=1.0, gt=0)
    #: Token estimate when a provider reports no usage: ``heuristic`` or ``tiktoken``.
    token_estimator: Literal["heuristic", "tiktoken"] = "heuristic"
    #: Append one JSON line per finished run to this file (empty: off).
    telemetry_jsonl: str = ""
    #: OTLP/HTTP endpoint for traces and metrics, e.g. ``http://127.0.0.1:4318`` (empty: off;
    #: needs the ``otel`` extra).
    otlp_endpoint: str = ""
    #: Export OTLP metrics too (off for a backend that takes traces only: Arize Phoenix
    #: answers ``/v1/metrics`` with 405).
    otlp_metrics: bool = True
    #: Put each run's input and output on its span (OpenInference ``input.value`` and
    #: ``output.value``), masked as the route masks them, as the client sent and saw them.
    #: Off by default: they are user content.
    otlp_capture_io: bool = False
    #: Headers on every OTLP request, ``name=value`` pairs separated by commas (W3C
    #: baggage style, as ``OTEL_EXPORTER_OTLP_HEADERS``), e.g. Phoenix's
    #: ``authorization=Bearer <key>`` or ``x-project-name=<project>``.
    otlp_headers: SecretStr = SecretStr("")
    #: The ``openinference.project.name`` resource attribute: the Phoenix project the
    #: spans land in (empty: the backend's default project).
    otlp_project: str = ""
    #: Finished-run records waiting for exporters; past it records are dropped and counted.
    telemetry_queue_size: int = Field(default=10_000, ge=1)
    #: The ``key_alias`` label values metrics may carry (keys' aliases or departments, JWT
    #: departments); any other is ``other``. Empty: every key's and department's own.
    metrics_key_aliases: tuple[str, ...] = ()
    #: Bucket boundaries (seconds, increasing) of the latency histograms: time to first
    #: chunk, time per output chunk, duration. Default: the GenAI conventions'.
    metrics_time_buckets: tuple[float, ...] = GENAI_TIME_BUCKETS
    #: Bucket boundaries (tokens, increasing) of ``gen_ai_client_token_usage``.
    metrics_token_buckets: tuple[float, ...] = GENAI_TOKEN_BUCKETS
    #: The exporters finished runs go to (``[telemetry] exporters``): ``jsonl`` (to
    #: ``telemetry_jsonl``), ``otlp`` (to ``otlp_endpoint``), ``wandb`` (the ``wandb``
    #: extra), or ``package.module:attr`` — an exporter object, or a class (any callable)
    #: that makes one with no arguments (see ``tokenwire.telemetry.exporters``). By default
    #: ``jsonl`` and ``otlp`` each run when its file or endpoint is set; listed, they must be.
    telemetry_exporters: list[str] = ["jsonl", "otlp"]
    #: The W&B project the ``wandb`` exporter logs to (``WANDB_MODE``, ``WANDB_ENTITY``,
    #: ``WANDB_API_KEY`` are wandb's own variables).
    telemetry_wandb_project: str = "tokenwire"
    #: Where the ``wandb`` exporter's run files go (empty: ``<data_dir>/wandb``).
    telemetry_wandb_dir: str = ""
    #: Write a hash-chained audit record per finished run (``create_app`` and
    #: ``tokenwire serve``; a ``Gateway`` built by hand audits only with ``audit=``).
    audit_enabled: bool = True
    #: Where local state lives; the default audit store is ``<data_dir>/audit.db`` (SQLite).
    #: Empty: ``./data``. (``TOKENWIRE_DATA_DIR`` applies to ``Settings()`` built in code
    #: too, as every variable does, so a test run can point every gateway elsewhere.)
    data_dir: str = ""
    #: SQLAlchemy async URL of the audit store, e.g. ``postgresql+asyncpg://host/db``
    #: (empty: SQLite under ``data_dir``).
    audit_url: SecretStr = SecretStr("")
    #: PostgreSQL schema of the audit tables (empty: the connection's default schema).
    audit_schema: str = ""
    #: LangGraph checkpointer for threads, a PostgreSQL URL such as
    #: ``postgresql://host/db``, shared by every replica (empty: SQLite at
    #: ``<data_dir>/checkpoints.db``; needs the ``threads`` extra).
    checkpoint_url: SecretStr = SecretStr("")
    #: PostgreSQL schema of the checkpoint tables (empty: the connection's default schema).
    checkpoint_schema: str = ""
    #: A thread's pending tool-call approvals are rejected after this many seconds (0:
    #: they wait forever). Timed by the replica whose run paused, while it runs.
    approval_timeout_seconds: float = Field(default=3600.0, ge=0)
    #: How long one ``commit = "after_validation"`` action may take to execute at its
    #: run's end before it is recorded failed (0: no limit) — a run always ends.
    action_commit_timeout_seconds: float = Field(default=60.0, ge=0)
    #: Delete audit records older than this many days, oldest first (0: keep forever).
    audit_retention_days: float = Field(default=0.0, ge=0)
    #: Delete action ledger entries (``@action`` calls) finished longer ago than this,
    #: swept every ``sweep_interval_seconds`` (0: keep forever). Past it the same work
    #: redone — a thread resumed, a request retried — executes again.
    actions_retention_seconds: float = Field(default=0.0, ge=0)
    #: Finished runs waiting for the audit writer; past it records are dropped and logged.
    audit_queue_size: int = Field(default=10_000, ge=1)
    #: The largest request body, in bytes, on every HTTP front end — a declared
    #: Content-Length is checked before anything runs, a chunked body as it arrives — and
    #: the largest WebSocket message. Past it: 413 (a WebSocket closes with 1009).
    max_request_bytes: int = Field(default=1_048_576, ge=1)
    #: The largest request line plus headers, in bytes: past it, 431 and the connection
    #: closes (``tokenwire serve``/``demo`` and ``BackgroundServer``; so are the three below).
    max_header_bytes: int = Field(default=16_384, ge=1)
    #: A request's headers must arrive complete within this many seconds of its first byte
    #: (of connecting, for a connection's first request): past it, 408 and the connection
    #: closes, so a client that trickles headers (slowloris) cannot hold connections.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    #: A kept-alive connection with no request in progress closes after this many seconds.
    keep_alive_seconds: int = Field(default=5, ge=0)
    #: Fernet key (urlsafe base64, 32 bytes) that encrypts the raw input of runs on routes
    #: with ``audit_input = "encrypted"``; keep it out of the config file:
    #: ``TOKENWIRE_AUDIT_INPUT_KEY``. Needed by ``tokenwire audit decrypt``.
    audit_input_key: SecretStr = Field(default=SecretStr(""), repr=False)
    #: Fernet key that encrypts LangGraph checkpoints (a thread's state, unmasked) at rest;
    #: empty: stored as LangGraph stores them. ``TOKENWIRE_CHECKPOINT_ENCRYPTION_KEY``.
    checkpoint_encryption_key: SecretStr = Field(default=SecretStr(""), repr=False)
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
    redis_url: SecretStr = SecretStr("")
    #: Prefix of every Redis key, so several deployments can share one Redis.
    redis_prefix: str = "tokenwire"
    #: A replica that has not beaten its Redis heartbeat for this long is gone: its live
    #: runs end with ``incomplete_stream`` (clients retry or start over elsewhere).
    replica_ttl_seconds: float = Field(default=10.0, gt=0)

    @field_validator("metrics_time_buckets", "metrics_token_buckets")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("must name at least one boundary")
        if any(not 0 < b < float("inf") for b in value):
            raise ValueError("boundaries must be positive and finite")
        if any(b <= a for a, b in pairwise(value)):
            raise ValueError("boundaries must increase")
        return value

    @field_validator("metrics_key_aliases")
    @classmethod
    def _named(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not alias.strip() for alias in value):
            raise ValueError("a key alias must not be empty")
        return value

    @field_validator("telemetry_exporters")
    @classmethod
    def _exporter_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in BUILT_IN_EXPORTERS and not _IMPORT_PATH.fullmatch(name):
                raise ValueError(
                    f"{name!r} is neither one of {list(BUILT_IN_EXPORTERS)} nor an import "
                    "path such as 'package.module:Exporter'"
                )
        if len(set(value)) < len(value):
            raise ValueError("names an exporter twice")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an exact origin such as 'https://app.example.com' "
                    "(scheme, host and port only; no '*', path or trailing slash)"
                )
        return value

    @field_validator("stream_token_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < _MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {_MIN_SECRET_CHARS} characters")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url and not url.startswith(_REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("checkpoint_encryption_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key:
            try:
                Fernet(key.encode("ascii"))
            except (ValueError, UnicodeEncodeError):
                raise ValueError(
                    "is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                    "python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The URLs' passwords never show (in logs, tracebacks); the rest reads as it is.
        for name, value in super().__repr_args__():
            if name in _URLS:
                yield name, _redacted(_plain(value))
            else:
                yield name, value


#: The exporters ``telemetry_exporters`` names without an import path.
BUILT_IN_EXPORTERS = ("jsonl", "otlp", "wandb")
_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")

#: A browser origin: ``scheme://host[:port]``, nothing more.
_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
_MIN_SECRET_CHARS = 32

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

#: Settings that are URLs, which may carry credentials.
_URLS = ("redis_url", "audit_url", "checkpoint_url", "otlp_endpoint")
#: ``scheme://user:password@`` (up to the last ``@`` of the authority) and secret query
#: parameters (``rediss://host?password=…``).
_URL_SECRETS = (
    (re.compile(r"://[^/?#]*@"), "://***@"),
    (re.compile(r"([?&](?:password|passwd|pass|token|secret)=)[^&#]*", re.IGNORECASE), r"\1***"),
)


def _plain(value: object) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _redacted(url: str) -> str:
    for pattern, replacement in _URL_SECRETS:
        url = pattern.sub(replacement, url)
    return url
