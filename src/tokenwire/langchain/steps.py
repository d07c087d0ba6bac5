"""The timed steps of a run — model calls, tool calls, retrievals — for trace child spans.

The adapter marks a step's start and end from events it already handles (events mode's
``on_chat_model_start`` / ``on_tool_end`` / ``on_retriever_end`` ..., never a model chunk;
in tokens mode one model call per attempt), so the token path costs nothing more. Times are
read on the run's clock; a step's parent is the nearest enclosing step (a model called by a
tool), else the run itself. A run keeps at most :data:`MAX_STEPS`: a runaway agent loop must
not grow a record without bound (``dropped`` says how many were not kept).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_STEPS", "Step", "StepKind", "StepLog"]

StepKind = Literal["llm", "tool", "retriever"]
#: Steps kept per run.
MAX_STEPS = 256


@dataclass(slots=True)
class Step:
    """One step; ``started``/``ended`` on the run's clock (``ended`` None: never ended)."""

    kind: StepKind
    name: str
    started: float
    #: The index of the enclosing step in the run's steps (None: the run itself).
    parent: int | None = None
    ended: float | None = None
    #: The model of an ``llm`` step, as LangChain's metadata names it (``ls_model_name``).
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: str | None = None
    #: A tool step's call id, and its arguments and output as its events carried them
    #: (masked as the route masks tool steps): see :meth:`StepLog.shown`.
    call_id: str | None = None
    input: Any = None
    output: Any = None


class StepLog:
    """The steps of one run, in start order. Not thread-safe: the run's task writes it."""

    __slots__ = ("_by_call", "_clock", "_open", "dropped", "steps")

    def __init__(self, clock: Callable[[], float]) -> None:  # the recorder's clock
        self._clock = clock
        self.steps: list[Step] = []
        self._open: dict[str, int] = {}  # LangChain run id → index in ``steps``
        self._by_call: dict[str, int] = {}  # tool call id → index in ``steps``
        self.dropped = 0

    def start(
        self,
        run_id: str,
        kind: StepKind,
        name: str,
        parent_ids: Iterable[str] = (),
        model: str | None = None,
        call_id: str | None = None,
    ) -> None:
        if len(self.steps) >= MAX_STEPS:
            self.dropped += 1
            return
        parent = None
        for parent_id in parent_ids:  # root first: the last one known is the nearest
            parent = self._open.get(parent_id, parent)
        self._open[run_id] = len(self.steps)
        if call_id is not None:
            self._by_call[call_id] = len(self.steps)
        self.steps.append(Step(kind, name, self._clock(), parent, model=model, call_id=call_id))

    def end(
        self,
        run_id: str,
        *,
        error: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        model: str | None = None,
    ) -> None:
        index = self._open.pop(run_id, None)
        if index is None:
            return
        step = self.steps[index]
        step.ended = self._clock()
        step.error = error
        step.input_tokens, step.output_tokens = input_tokens, output_tokens
        step.model = model or step.model

    def shown(self, call_id: str, *, input: Any = None, output: Any = None) -> None:
        """What a tool step's events showed (set by the recorder, which masks them)."""
        index = self._by_call.get(call_id)
        if index is None:
            return
        step = self.steps[index]
        if input is not None:
            step.input = input
        if output is not None:
            step.output = output
