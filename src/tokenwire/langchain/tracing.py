"""LangSmith traces of gateway runs: named after their route, timed by the gateway's clock.

LangChain's ``LangChainTracer`` records a model run's first ``on_llm_new_token`` as its
``new_token`` event, from which LangSmith derives the run's first-token time — and that
first callback is OpenAI's opening role-only chunk, an empty string that arrives in a few
milliseconds, long before the first word. :class:`GatewayTracer` (one per gateway run):

* skips empty tokens, so a model run's first-token time is its first text;
* starts the root run when the gateway received the request (``TraceClock.started``)
  and gives it one ``new_token`` event at the gateway's first *visible* token — what the
  client waited for, held-back text and retries included — so LangSmith's first-token
  latency of the run is the gateway's TTFT (``RunRecord.ttft_s``), to the microsecond;
* holds each root run's end until the gateway's run has ended (:meth:`TraceClock.release`):
  held-back text is released after the runnable returned, so the first visible token may
  come after the root run ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from langchain_core.outputs import ChatGenerationChunk, GenerationChunk
from langchain_core.tracers.langchain import LangChainTracer
from langchain_core.tracers.schemas import Run

__all__ = ["GatewayTracer", "TraceClock"]


@dataclass(slots=True)
class TraceClock:
    """One gateway run's times, as its LangSmith trace shows them."""

    #: The wall-clock time at which the gateway's TTFT starts counting.
    started: datetime
    #: The gateway's TTFT so far: from ``started`` to the first visible token (None: none).
    first_token: Callable[[], timedelta | None]
    #: The root run whose start is ``started`` (the route's run id; retries get others).
    root_id: UUID | None = None
    _held: list[tuple[Run, Callable[[Run], None]]] = field(default_factory=list)
    _released: bool = False

    # LangChain may copy a config's handlers: every copy must hold into this one clock.
    def __copy__(self) -> TraceClock:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> TraceClock:
        return self

    def hold(self, run: Run, end: Callable[[Run], None]) -> None:
        """Keep a root run's end for :meth:`release` (or end it now, if that has run)."""
        if self._released:
            self._end(run, end)
        else:
            self._held.append((run, end))

    def release(self) -> None:
        """The gateway's run has ended: end the held root runs, the last one (the attempt
        whose text the client saw) with the first visible token's ``new_token`` event."""
        self._released = True
        held, self._held = self._held, []
        for index, (run, end) in enumerate(held):
            if index == len(held) - 1:
                self._end(run, end)
            else:
                end(run)

    def _end(self, run: Run, end: Callable[[Run], None]) -> None:
        ttft = self.first_token()
        if ttft is not None:
            # Replace the model's own token event (a root chat model's run has one).
            run.events = [e for e in run.events if e.get("name") != "new_token"]
            run.events.append({"name": "new_token", "time": self.started + ttft})
        end(run)


class GatewayTracer(LangChainTracer):
    """A ``LangChainTracer`` for one gateway run (see the module's doc)."""

    def __init__(self, *args: Any, clock: TraceClock | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def copy_with_metadata_defaults(
        self, *, metadata: Mapping[str, str] | None = None, tags: list[str] | None = None
    ) -> LangChainTracer:
        """LangChain copies tracers to add inherited metadata: the copy keeps the clock."""
        copy = super().copy_with_metadata_defaults(metadata=metadata, tags=tags)
        if isinstance(copy, GatewayTracer):
            copy.clock = self.clock
        return copy

    def _start_trace(self, run: Run) -> None:
        clock = self.clock
        if clock is not None and run.parent_run_id is None and run.id == clock.root_id:
            # Before the dotted order (which starts with the start time) is computed.
            run.start_time = clock.started
            for event in run.events:
                if event.get("name") == "start":
                    event["time"] = clock.started
        super()._start_trace(run)

    def _llm_run_with_token_event(
        self,
        token: str | list[str | dict[str, Any]],
        run_id: UUID,
        chunk: GenerationChunk | ChatGenerationChunk | None = None,
        parent_run_id: UUID | None = None,
    ) -> Run:
        if not token:  # a role-only or empty chunk is not the first token
            return self._get_run(run_id, run_type={"llm", "chat_model"})
        return super()._llm_run_with_token_event(token, run_id, chunk, parent_run_id)

    def _on_chain_end(self, run: Run) -> None:
        self._end_root(run, super()._on_chain_end)

    def _on_chain_error(self, run: Run) -> None:
        self._end_root(run, super()._on_chain_error)

    def _on_llm_end(self, run: Run) -> None:
        self._end_root(run, super()._on_llm_end)

    def _on_llm_error(self, run: Run) -> None:
        self._end_root(run, super()._on_llm_error)

    def _end_root(self, run: Run, end: Callable[[Run], None]) -> None:
        if self.clock is not None and run.parent_run_id is None:
            self.clock.hold(run, end)
        else:
            end(run)
