"""Who and what a run is attributed to: the labels every per-run metric carries.

The names are the OpenTelemetry GenAI attributes' (``gen_ai.operation.name`` →
``gen_ai_operation_name``, …); ``gen_ai.provider.name`` values follow the conventions, and
a chat model that declares its provider (LangChain's ``ls_provider``) wins over its name.
Every value comes from a bounded set — the routes, their models, five protocols, the
configured keys and departments — never from a user or a run, so the number of series
does not grow with users.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, NamedTuple

from tokenwire.telemetry.record import RunRecord

__all__ = ["ATTRIBUTION", "OTHER", "Attribution", "bounded_alias", "provider_of"]

_PREFIXES = (
    ("gpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("chatgpt", "openai"),
    ("text-embedding", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"),
    ("mistral", "mistral_ai"),
    ("command", "cohere"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
    ("mock", "tokenwire.mock"),
)

#: The ``key_alias`` of a caller outside ``metrics_key_aliases``.
OTHER = "other"


class Attribution(NamedTuple):
    """One run's attribution labels, in :data:`ATTRIBUTION`'s order (unpack it into
    ``.labels(*attribution)``)."""

    gen_ai_operation_name: str
    gen_ai_provider_name: str
    gen_ai_request_model: str
    route: str
    cohort: str
    protocol: str
    key_alias: str

    @classmethod
    def of(cls, record: RunRecord) -> Attribution:
        return cls(
            record.operation,
            record.provider,
            record.model or "unknown",
            record.route,
            record.cohort_label,
            record.protocol,
            record.key_alias,
        )


#: The label names of :class:`Attribution`.
ATTRIBUTION: tuple[str, ...] = Attribution._fields


def bounded_alias(label: str, allowed: Collection[str]) -> str:
    """A caller's ``key_alias`` label: its own (a key's alias or department, a token's
    department, ``jwt``, ``anonymous``) — or, with an allow-list, ``other`` when outside it."""
    if allowed and label not in allowed:
        return OTHER
    return label


def provider_of(model: str | None, runnable: Any = None) -> str:
    declared = _declared_provider(runnable)
    if declared:
        return declared
    if model:
        lowered = model.lower()
        for prefix, provider in _PREFIXES:
            if lowered.startswith(prefix):
                return provider
    return "unknown"


def _declared_provider(runnable: Any) -> str | None:
    params = getattr(runnable, "_get_ls_params", None)
    if params is None:
        return None
    try:
        provider = params().get("ls_provider")
    except Exception:  # a model's own metadata hook must never break a run
        return None
    return provider if isinstance(provider, str) and provider else None
