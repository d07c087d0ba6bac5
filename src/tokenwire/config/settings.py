"""Gateway settings: one frozen model, read from arguments, ``TOKENWIRE_*`` environment
variables and the ``[gateway]`` table of ``tokenwire.toml`` — in that order of precedence,
over the defaults, everywhere (:mod:`.sources` says how).

>>> Settings(disconnect_grace_seconds=0.5, heartbeat_seconds=15)

An unknown name is an error wherever it comes from (a misspelled ``TOKENWIRE_HEARTBEAT=5``
as much as a TOML typo), and every error names the setting and its source. URLs and keys
that may carry credentials are ``SecretStr``: never printed, read with
``get_secret_value()`` where they are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tokenwire.config.sources import ENV_PREFIX, EnvironmentSource, FileSource, Origins
from tokenwire.errors import ConfigError

__all__ = ["Settings"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class Settings(BaseSettings):
    """How runs and streams behave; every field is also ``TOKENWIRE_<FIELD>`` in upper case
    and a key of ``[gateway]`` in ``tokenwire.toml``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True
    )

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
    #: ``required`` (default): every request but probes, metrics and the static UI needs an
    #: API key or JWT; ``none``: no authentication at all — development only (warned at start).
    auth: Literal["required", "none"] = "required"
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
    #: Finished-run records waiting for exporters; past it records are dropped and counted.
    telemetry_queue_size: int = Field(default=10_000, ge=1)
    #: Write a hash-chained audit record per finished run (``create_app`` and
    #: ``tokenwire serve``; a ``Gateway`` built by hand audits only with ``audit=``).
    audit_enabled: bool = True
    #: Where local state lives; the default audit store is ``<data_dir>/audit.db`` (SQLite).
    #: Empty: ``$TOKENWIRE_DATA_DIR`` when set (also for ``Settings()`` built in code, so a
    #: test run can point every gateway elsewhere), else ``./data``.
    data_dir: str = ""
    #: SQLAlchemy async URL of the audit store, e.g. ``postgresql+asyncpg://host/db``
    #: (empty: SQLite under ``data_dir``).
    audit_url: SecretStr = SecretStr("")
    #: PostgreSQL schema of the audit tables (empty: the connection's default schema).
    audit_schema: str = ""
    #: Delete audit records older than this many days, oldest first (0: keep forever).
    audit_retention_days: float = Field(default=0.0, ge=0)
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

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(_REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return url

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(Origins.current(values, type(self)).describe(exc)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, EnvironmentSource(settings_cls), FileSource(settings_cls))

    @classmethod
    def from_file(cls, table: Mapping[str, Any], origin: str, **values: Any) -> Settings:
        """Settings with ``table`` (``[gateway]`` of the file ``origin``) under the
        environment and ``values``."""
        return cls.explained(table, origin, **values)[0]

    @classmethod
    def explained(
        cls, table: Mapping[str, Any], origin: str, **values: Any
    ) -> tuple[Settings, Origins]:
        """:meth:`from_file`, and where each setting's value came from."""
        with FileSource.reading(table, origin):
            return cls(**values), Origins.current(values, cls)

    def lines(self, origins: Origins) -> list[str]:
        """``name = value  # source`` for every setting (``tokenwire config show``);
        secrets show as ``**********`` when set."""
        rows = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown = repr(str(value)) if isinstance(value, SecretStr) else repr(value)
            rows.append(f"{name} = {shown}  # {origins.source(name)}")
        return rows

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes``, validated like the original."""
        return type(self)(**{**self._given(), **changes})

    def _given(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}
