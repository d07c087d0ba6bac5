"""The shape of ``tokenwire.toml``'s tables besides ``[gateway]``, as pydantic models.

Every table forbids unknown keys, so a typo is an error naming the table and the key. The
models check names and types only; the objects built from them (``Route``, ``RetryPolicy``,
``Guardrails``, ``ApiKey``, …, in ``tokenwire.server.config``) keep their own defaults and
rules, which is why every optional key defaults to ``None`` (not given).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tokenwire.rollout.spec import RolloutPolicy

__all__ = [
    "ApiKeySpec",
    "AuthTable",
    "BreakerSpec",
    "BudgetSpec",
    "FallbackSpec",
    "GuardrailsSpec",
    "PriceSpec",
    "RetrySpec",
    "RouteSpec",
]

StreamMode = Literal["auto", "tokens", "events"]


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def given(self) -> dict[str, Any]:
        """The keys the file sets (the defaults of the objects built from it apply to
        the rest)."""
        return self.model_dump(exclude_unset=True)


class RetrySpec(Table):
    """``retry = { max_retries = 2, base_delay = 0.25, max_delay = 4, budget_seconds = 10 }``"""

    max_retries: int | None = None
    base_delay: float | None = None
    max_delay: float | None = None
    budget_seconds: float | None = None


class BreakerSpec(Table):
    """``circuit_breaker = { failure_threshold = 5, cooldown_seconds = 30 }``"""

    failure_threshold: int | None = None
    cooldown_seconds: float | None = None


class FallbackSpec(Table):
    """One of ``fallbacks``: ``"app.py:backup"`` or a table with its ``target``."""

    target: str
    name: str | None = None
    streaming: bool | None = None
    mode: StreamMode | None = None
    answer_tag: str | None = None


class BudgetSpec(Table):
    """``[routes.NAME.budget]``"""

    max_output_tokens: int | None = None
    max_cost_usd: float | None = None


class GuardrailsSpec(Table):
    """``[routes.NAME.guardrails]`` (see ``Guardrails.from_config``)."""

    pii: bool | list[str] | None = None
    mask: list[str] | None = None
    audit_input: str | None = None
    phone_regions: list[str] | None = None
    no_code: bool | None = None
    deny: list[dict[str, Any]] | None = None
    input_deny: list[dict[str, Any]] | None = None
    window: int | None = None
    mode: Literal["holdback", "stream_first"] | None = None


class RouteSpec(Table):
    """``[routes.NAME]``: a runnable and how it is served."""

    #: ``path/to/file.py:attr`` (relative to the file) or ``package.module:attr``.
    target: str
    mode: StreamMode | None = None
    answer_tag: str | None = None
    #: Report a LangGraph graph's nodes starting and ending (``node.start`` / ``node.end``).
    progress: bool | None = None
    on_disconnect: Literal["cancel", "continue"] | None = None
    #: ``run.end.output``: ``auto``, the answer ``text``, the graph's whole ``state``, or its
    #: ``messages``.
    output: Literal["auto", "text", "state", "messages"] | None = None
    #: A start on a thread with a live run: ``reject`` (409), ``enqueue``, ``interrupt``,
    #: ``rollback``.
    multitask: Literal["reject", "enqueue", "interrupt", "rollback"] | None = None
    description: str | None = None
    guardrails: GuardrailsSpec | None = None
    budget: BudgetSpec | None = None
    # Reliability, in seconds: see tokenwire.server.reliability_keys.
    first_token_timeout: float | None = Field(default=None, gt=0)
    stall_timeout: float | None = Field(default=None, gt=0)
    total_timeout: float | None = Field(default=None, gt=0)
    mid_stream: Literal["error", "restart", "continue"] | None = None
    retry: RetrySpec | None = None
    circuit_breaker: BreakerSpec | None = None
    fallbacks: list[FallbackSpec] | None = None
    #: ``[routes.NAME.rollout]``: canary variants, a shadow, streaming vs batch cohorts.
    rollout: RolloutPolicy | None = None

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _targets_as_tables(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"target": entry} if isinstance(entry, str) else entry for entry in value]
        return value


class PriceSpec(Table):
    """``[pricing."model"]``: USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None


class ApiKeySpec(Table):
    """One of ``[auth] keys``: ``key_sha256`` (or, for development, ``key``) and limits."""

    alias: str
    key_sha256: str | None = None
    key: str | None = None
    roles: list[str] | None = None
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    tokens_per_minute: int | None = None
    token_budget: int | None = None
    cost_budget_usd: float | None = None
    budget_period: Literal["hour", "day", "month"] | None = None
    #: What the key's metrics and cost are labelled with (``key_alias``) instead of its alias.
    department: str | None = None

    def __repr_args__(self) -> Any:  # never the key, not even its hash
        yield "alias", self.alias


class AuthTable(Table):
    """``[auth]`` but its ``jwt_*`` settings (:class:`~tokenwire.config.jwt.JwtSettings`)."""

    keys: list[ApiKeySpec] = []
    jwt_public_key_file: str | None = None
