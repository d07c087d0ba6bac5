"""Model prices and the cost of a run's usage.

The bundled table lists list prices in USD per million tokens as published by OpenAI and
Anthropic (checked 2025; providers change them — override in ``tokenwire.toml``
``[pricing."model-name"]`` with ``input``, ``output`` and optionally ``cached_input``).
A model name matches the longest table key it starts with, so dated snapshots
(``gpt-4o-2024-08-06``) price as their family. An unknown model costs ``None``, never 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BUNDLED_PRICES", "Price", "PriceTable"]


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float | None = None

    def cost(self, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0) -> float:
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        total = (
            (input_tokens - cached) * self.input
            + cached * cached_rate
            + output_tokens * self.output
        )
        return total / 1_000_000


BUNDLED_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4-turbo": Price(10.00, 30.00),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.00, 60.00, 7.50),
    "o1-mini": Price(1.10, 4.40, 0.55),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
    # Anthropic (cached_input = cache read)
    "claude-opus-4-5": Price(5.00, 25.00, 0.50),
    "claude-opus-4-1": Price(15.00, 75.00, 1.50),
    "claude-opus-4": Price(15.00, 75.00, 1.50),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10),
    "claude-3-7-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": Price(3.00, 15.00, 0.30),
    "claude-3-5-haiku": Price(0.80, 4.00, 0.08),
    "claude-3-opus": Price(15.00, 75.00, 1.50),
    "claude-3-haiku": Price(0.25, 1.25, 0.03),
}


class PriceTable:
    """Bundled prices overlaid with a user's.

    >>> PriceTable({"my-model": {"input": 1.0, "output": 2.0}}).lookup("my-model-v2")
    Price(input=1.0, output=2.0, cached_input=None)
    """

    def __init__(
        self,
        overrides: Mapping[str, Price | Mapping[str, Any]] | None = None,
        *,
        bundled: bool = True,
    ) -> None:
        self._prices = dict(BUNDLED_PRICES) if bundled else {}
        for name, price in (overrides or {}).items():
            self._prices[name] = price if isinstance(price, Price) else _price(name, price)
        # Longest first, so "gpt-4o-mini-…" matches "gpt-4o-mini" before "gpt-4o".
        self._keys = sorted(self._prices, key=len, reverse=True)
        self._cache: dict[str, Price | None] = {}

    def lookup(self, model: str | None) -> Price | None:
        if not model:
            return None
        if model not in self._cache:
            self._cache[model] = next(
                (self._prices[key] for key in self._keys if model.startswith(key)), None
            )
        return self._cache[model]

    def cost(
        self, model: str | None, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
    ) -> float | None:
        price = self.lookup(model)
        if price is None:
            return None
        return price.cost(input_tokens, output_tokens, cached_input_tokens)


def _price(name: str, raw: Mapping[str, Any]) -> Price:
    unknown = set(raw) - {"input", "output", "cached_input"}
    if unknown or "input" not in raw or "output" not in raw:
        raise ValueError(
            f"price for {name!r} needs 'input' and 'output' (USD per million tokens) "
            f"and optionally 'cached_input'; got {sorted(raw)}"
        )
    cached = raw.get("cached_input")
    return Price(
        float(raw["input"]), float(raw["output"]), None if cached is None else float(cached)
    )
