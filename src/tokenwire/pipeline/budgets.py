"""Per-run budgets: stop spending mid-stream.

``max_output_tokens`` is enforced live against the model's output: each text delta is
estimated in tokens (the gateway's estimator) as it arrives, before any guard holds it back
or releases it in other pieces, so a guarded route gets no more text than an unguarded one.
``max_cost_usd`` is enforced against the output allowance at the model's output price, then
against reported usage (input included) at the end of each model call. A delta that would
overspend is not passed on; the run stops upstream generation and ends ``truncated`` with
``budget_exceeded``; what was delivered stays delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tokenwire.events import ErrorCode, RunStatus
from tokenwire.langchain.sink import NodePhase
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.stage import RunControl, Stage
from tokenwire.usage.estimate import Estimator
from tokenwire.usage.pricing import PriceTable

__all__ = ["BudgetStage", "RunBudget"]


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


class BudgetStage:
    """The first stage of a run with a budget: counts what the model says, stops the run
    when the budget is spent (see the module docstring)."""

    __slots__ = ("_control", "_cost", "_cost_limit", "_estimate", "_left", "_next", "_prices")

    def __init__(
        self,
        next: Stage,
        budget: RunBudget,
        control: RunControl,
        *,
        prices: PriceTable,
        estimate: Estimator,
    ) -> None:
        self._next = next
        self._control = control
        self._prices = prices
        self._estimate = estimate
        self._left = budget.token_allowance(prices)
        self._cost_limit = budget.max_cost_usd
        self._cost = 0.0

    def token(self, text: str) -> bool | None:
        if self._left < 0:
            return False  # spent: dropped until the stop's cancellation lands
        self._left -= self._estimate(text)
        if self._left < 0:
            self._spent("the run reached its output token budget")
            return False
        return self._next.token(text)

    def model(self, name: str, provider: str | None) -> None:
        self._next.model(name, provider)

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        self._next.usage(input_tokens, output_tokens, model, cached_input_tokens)
        cost = self._prices.cost(model, input_tokens, output_tokens, cached_input_tokens)
        if cost is None or self._cost_limit is None:
            return
        self._cost += cost
        if self._cost > self._cost_limit:
            self._spent(f"the run reached its cost budget (${self._cost_limit})")

    def _spent(self, reason: str) -> None:
        self._left = -1
        self._control.stop(RunStatus.TRUNCATED, ErrorCode.BUDGET_EXCEEDED, reason)

    # -- the rest passes through --------------------------------------------------------
    def reasoning(self, text: str) -> None:
        self._next.reasoning(text)

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self._next.tool_start(call_id, name, args)

    def tool_end(
        self,
        call_id: str,
        name: str,
        output: Any,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self._next.tool_end(call_id, name, output, error, run_id)

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._next.retrieval(documents)

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        self._next.custom(name, data, error)

    def node(self, phase: NodePhase, name: str, step: int | None) -> None:
        self._next.node(phase, name, step)

    def update(self, name: str, update: Any) -> None:
        self._next.update(name, update)

    def state(self, values: Any) -> None:
        self._next.state(values)

    def interrupt(
        self, interrupt_id: str, value: Any, approvals: Sequence[dict[str, Any]] = ()
    ) -> None:
        self._next.interrupt(interrupt_id, value, approvals)

    def guardrail(self, finding: Finding, *, shown: bool = False) -> None:
        self._next.guardrail(finding, shown=shown)

    def discard_unshown(self) -> None:
        self._next.discard_unshown()

    def restart(self) -> None:  # the discarded attempt's output was still paid for
        self._next.restart()

    async def drain(self) -> None:
        await self._next.drain()

    def cancel(self) -> None:
        self._next.cancel()
