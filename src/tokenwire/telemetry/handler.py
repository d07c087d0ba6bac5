"""A LangChain callback handler that measures every model stream — usable in any app.

    handler = StreamTelemetryHandler(on_finish=print)
    async for chunk in chain.astream(x, config={"callbacks": [handler]}):
        ...

It runs inline (``run_inline = True``: no executor hop per token) and does O(1) work per
token: a clock read, a subtraction and an ``array`` append. TTFT is the time to the first
**non-empty** content delta (OpenAI's opening role-only chunk is not a token).

Caveat (langchain-core 1.x): when any ``run_inline`` handler is attached,
``AsyncCallbackManager.on_llm_start`` skips non-inline handlers, which silences
``astream_events`` for *text-completion* LLMs (chat models are unaffected). The gateway
therefore times tokens in its own recorder and does not attach this handler.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from tokenwire.langchain.usage import result_usage
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock, GapSummary, summarize_gaps

__all__ = ["StreamTelemetryHandler", "StreamTiming"]


@dataclass(slots=True)
class StreamTiming:
    """One model call's stream, measured (times from the handler's clock, in seconds)."""

    run_id: UUID
    model: str | None
    started_at: float
    first_token_at: float | None = None
    last_token_at: float | None = None
    ended_at: float | None = None
    tokens: int = 0
    gaps: array[float] = field(default_factory=lambda: array("d"))
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def ttft_s(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started_at

    def itl(self, stall_threshold: float) -> GapSummary:
        return summarize_gaps(self.gaps, stall_threshold)


class StreamTelemetryHandler(BaseCallbackHandler):
    run_inline = True

    def __init__(
        self,
        *,
        stall_threshold: float = 1.0,
        prices: PriceTable | None = None,
        on_finish: Callable[[StreamTiming], None] | None = None,
        keep: int = 1000,
        clock: Clock = perf_counter,
    ) -> None:
        self.clock = clock
        self.stall_threshold = stall_threshold
        self.prices = prices or PriceTable()
        self.on_finish = on_finish
        # Per-call state, keyed by the model call's run id: concurrent calls never mix.
        self._live: dict[UUID, StreamTiming] = {}
        self.finished: deque[StreamTiming] = deque(maxlen=keep)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._start(run_id, kwargs)

    def on_llm_new_token(
        self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        if not token:  # a role-only or empty chunk is not a token
            return
        timing = self._live.get(run_id)
        if timing is None:
            return
        now = self.clock()
        last = timing.last_token_at
        if last is None:
            timing.first_token_at = now
        else:
            timing.gaps.append(now - last)
        timing.last_token_at = now
        timing.tokens += 1

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        timing = self._live.pop(run_id, None)
        if timing is None:
            return
        timing.ended_at = self.clock()
        usage = result_usage(response, timing.model)
        if usage is not None:
            timing.input_tokens, timing.output_tokens = usage.input_tokens, usage.output_tokens
            timing.model = usage.model or timing.model
            timing.cost_usd = self.prices.cost(
                timing.model, usage.input_tokens, usage.output_tokens, usage.cached_input_tokens
            )
        self._finish(timing)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        timing = self._live.pop(run_id, None)
        if timing is not None:
            timing.ended_at = self.clock()
            self._finish(timing)

    def _start(self, run_id: UUID, kwargs: dict[str, Any]) -> None:
        metadata = kwargs.get("metadata") or {}
        model = metadata.get("ls_model_name")
        self._live[run_id] = StreamTiming(
            run_id, model if isinstance(model, str) else None, self.clock()
        )

    def _finish(self, timing: StreamTiming) -> None:
        self.finished.append(timing)
        if self.on_finish is not None:
            self.on_finish(timing)
