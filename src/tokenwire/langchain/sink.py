"""The port through which the LangChain adapter reports what a runnable produced.

The adapter never formats wire bytes and never touches the event log: it calls these
methods, synchronously, as LangChain yields. The run recorder (``tokenwire.runs``)
implements them by appending canonical events. Methods are plain (not ``async``) so a
token costs one call, not an await.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

__all__ = ["NodePhase", "RunSink"]

NodePhase = Literal["start", "end"]


class RunSink(Protocol):
    def token(self, text: str) -> bool | None:
        """A non-empty delta of the final answer.

        True means this delta made the answer's first text visible: the caller should
        yield to the event loop once, so it is written now even if the model delivers a
        burst without ever suspending (anything else, None included, means carry on)."""

    def reasoning(self, text: str) -> None:
        """A non-empty delta of the model's exposed reasoning."""

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        """An agent step began: ``args`` is JSON-serialisable."""

    def tool_end(
        self,
        call_id: str,
        name: str,
        output: Any,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """An agent step finished (``error`` set when the tool raised); ``run_id``: its
        LangChain run, by which an ``@action`` replayed inside it is told apart."""

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        """Documents a retriever returned: each ``{id, source, title, snippet}``."""

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        """What the runnable's code streamed itself: ``data`` is JSON-serialisable; ``name``
        is None for a LangGraph ``get_stream_writer()`` payload; ``error`` says why the data
        could not be carried (it is then None)."""

    def node(self, phase: NodePhase, name: str, step: int | None) -> None:
        """A LangGraph node of the route's graph began or finished (``step``: its superstep)."""

    def update(self, name: str, update: Any) -> None:
        """A node of the route's graph finished and wrote ``update`` (JSON-serialisable) to
        the state: LangGraph's ``updates`` stream of the root graph."""

    def state(self, values: Any) -> None:
        """The route's graph stopped — it ended or paused — with ``values`` (JSON) as its
        state: what LangGraph's server streams last in ``values`` mode; with step values
        asked for (``AdapterOptions.step_values``), also its state after every step."""

    def interrupt(
        self, interrupt_id: str, value: Any, approvals: Sequence[dict[str, Any]] = ()
    ) -> None:
        """The graph paused at a LangGraph ``interrupt(value)`` (``value`` is
        JSON-serialisable): the run ends ``interrupted`` and resumes with a ``Command``.
        ``approvals``: the tool calls the value asks a human to decide on
        (:meth:`tokenwire.langchain.approvals.Approval.data`), none for other values."""

    def model(self, name: str, provider: str | None) -> None:
        """A chat model ran, named as LangChain's run metadata names it (``ls_model_name``,
        ``ls_provider``): once per distinct model of the run, nested ones included, whether
        or not it reported usage."""

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        """Token usage reported by one model call; called once per call, summed by the sink.
        ``cached_input_tokens`` is the part of ``input_tokens`` served from a prompt cache."""
