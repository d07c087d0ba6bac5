"""Who a run is attributed to: the provider of a model, by the model's name.

``gen_ai.provider.name`` values follow the OpenTelemetry GenAI conventions. A chat model
that declares its provider (LangChain's ``ls_provider``) wins over the name.
"""

from __future__ import annotations

from typing import Any

__all__ = ["provider_of"]

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
