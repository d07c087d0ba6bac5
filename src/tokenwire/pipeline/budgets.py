"""Per-run budgets: stop spending mid-stream.

``max_output_tokens`` is enforced live against streamed chunks (one chunk is about one
token for OpenAI-style providers) and ``max_cost_usd`` against the output allowance at the
model's output price, then against reported usage (input included) at the end of each model
call. Exceeding either stops upstream generation and ends the run ``truncated`` with
``budget_exceeded``; what was delivered stays delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from tokenwire.usage.pricing import PriceTable

__all__ = ["RunBudget"]


_N = TypeVar("_N", int, float)


def _min(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


_UNLIMITED = 1 << 62


@dataclass(frozen=True, slots=True)
class RunBudget:
    max_output_tokens: int | None = None
    max_cost_usd: float | None = None
    #: The model whose output price turns ``max_cost_usd`` into a live token allowance.
    model: str | None = None

    def tighter(self, other: RunBudget | None) -> RunBudget:
        """The stricter of two budgets, field by field (None means no limit)."""
        if other is None:
            return self
        return RunBudget(
            max_output_tokens=_min(self.max_output_tokens, other.max_output_tokens),
            max_cost_usd=_min(self.max_cost_usd, other.max_cost_usd),
            model=self.model or other.model,
        )

    def token_allowance(self, prices: PriceTable) -> int:
        allowance = _UNLIMITED
        if self.max_output_tokens is not None:
            allowance = self.max_output_tokens
        price = prices.lookup(self.model)
        if self.max_cost_usd is not None and price is not None and price.output > 0:
            allowance = min(allowance, int(self.max_cost_usd * 1_000_000 / price.output))
        return allowance
