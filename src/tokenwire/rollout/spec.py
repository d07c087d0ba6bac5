"""``[routes.NAME.rollout]``: the shape of a route's rollout, checked when it is read.

Percents are of the route's traffic, 0-100. The route's own target is the ``stable``
variant: it gets what the variants leave. ``steps`` is the ladder a healthy variant climbs
(from its configured ``percent``), one rung every ``step_interval_seconds``; at 100 it is
promoted.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["STABLE", "AnalysisSpec", "RolloutPolicy", "ShadowSpec", "VariantSpec"]

#: The route's own target, as a variant.
STABLE = "stable"
#: The cohort of shadow runs (never a variant's name).
SHADOW = "shadow"

_STICKY = re.compile(r"^(key|thread|none|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Percent = Field(ge=0, le=100)


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantSpec(_Table):
    """One of ``[[routes.NAME.rollout.variants]]``: a ``target`` (another runnable) or
    ``overrides`` (route keys changed for its runs, e.g. ``{ first_token_timeout = 2 }``)."""

    name: str
    percent: float = Percent
    target: str | None = None
    overrides: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("a variant name is 1-64 letters, digits, '_', '.' or '-'")
        if name in (STABLE, SHADOW):
            raise ValueError(f"{name!r} is reserved (the route's own target is 'stable')")
        return name


class ShadowSpec(_Table):
    """``shadow = { target = "app.py:next", percent = 10 }``: a copy of that share of
    requests runs in the background on ``target``, measured, never shown, executing no
    action, and bounded: ``max_output_tokens`` / ``max_cost_usd`` per run, at most
    ``max_concurrent`` at once (more are skipped), ``total_timeout`` seconds each."""

    target: str | None = None
    percent: float = Percent
    max_output_tokens: int = Field(default=2048, gt=0)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_concurrent: int = Field(default=16, gt=0)
    total_timeout: float = Field(default=120.0, gt=0)


class AnalysisSpec(_Table):
    """``[routes.NAME.rollout.analysis]``: each variant against stable over the last
    ``window_seconds``, once it has ``min_runs`` there. A threshold left out is not checked."""

    window_seconds: float = Field(default=300.0, gt=0)
    min_runs: int = Field(default=20, ge=1)
    #: Failed, incomplete and timed-out runs over all runs (user cancels left out), 0-1.
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    #: The variant's p95 time to first token over stable's.
    max_ttft_p95_ratio: float | None = Field(default=None, gt=0)
    #: The variant's p95 inter-token latency over stable's.
    max_itl_p95_ratio: float | None = Field(default=None, gt=0)
    #: The variant's mean cost per run over stable's.
    max_cost_ratio: float | None = Field(default=None, gt=0)
    #: The lowest mean feedback score (0-1) the variant may have (needs ``min_runs`` scores).
    min_feedback_score: float | None = Field(default=None, ge=0, le=1)


class RolloutPolicy(_Table):
    """``[routes.NAME.rollout]``."""

    variants: list[VariantSpec] = []
    #: The share of runs streamed; the rest are the ``batch`` cohort (``ainvoke``, the
    #: answer delivered at once).
    streaming_percent: float = Field(default=100.0, ge=0, le=100)
    shadow: ShadowSpec | None = None
    #: What keeps a user in a cohort: the caller's ``key``, a ``header:<name>``, the
    #: LangGraph ``thread``, or ``none`` (each request drawn anew).
    sticky: str = "key"
    analysis: AnalysisSpec = AnalysisSpec()
    steps: list[float] = [5.0, 25.0, 50.0, 100.0]
    step_interval_seconds: float = Field(default=300.0, gt=0)
    #: Above this error rate of the streaming cohort, new runs are served as batch until it
    #: recovers (0-1; unset: never).
    fallback_to_batch_error_rate: float | None = Field(default=None, gt=0, le=1)
    #: POSTed a JSON body on every state transition.
    alert_webhook: str | None = None

    @field_validator("sticky")
    @classmethod
    def _sticky(cls, sticky: str) -> str:
        if not _STICKY.match(sticky):
            raise ValueError('sticky is "key", "thread", "none" or "header:<name>"')
        return sticky

    @field_validator("steps")
    @classmethod
    def _steps(cls, steps: list[float]) -> list[float]:
        if not steps:
            raise ValueError("steps needs at least one percent (the last is 100)")
        if any(not 0 < step <= 100 for step in steps):
            raise ValueError("every step is a percent in (0, 100]")
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase")
        if steps[-1] != 100:
            raise ValueError("the last step is 100 (where a variant is promoted)")
        return steps

    @field_validator("alert_webhook")
    @classmethod
    def _webhook(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("alert_webhook is an http:// or https:// URL")
        return url

    @model_validator(mode="after")
    def _percents(self) -> RolloutPolicy:
        names = [variant.name for variant in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique: {names}")
        total = sum(variant.percent for variant in self.variants)
        if total > 100:
            raise ValueError(f"the variants' percents sum to {total:g}, over 100")
        return self

    @property
    def sticky_header(self) -> str | None:
        """The header named by ``sticky = "header:<name>"``, lower-cased."""
        kind, _, name = self.sticky.partition(":")
        return name.lower() if kind == "header" else None
