"""Events mode: ``astream_events(version="v2")`` → sink, for chains, agents and graphs.

Which model's tokens are the answer:

- with ``answer_tag``: exactly the models whose run ``tags`` contain it;
- with no chat model in the run at all (a plain generator): the root's string chunks;
- otherwise the outermost model calls: depth is ``len(parent_ids)``; the first model start
  fixes the answer depth, a shallower one later lowers it (deeper models stop counting),
  and a model anywhere inside a tool or retriever run never counts (a model-backed tool,
  a multi-query retriever). Depth alone is not enough: in a LangGraph
  ``create_react_agent`` a model called inside a tool sits at the same depth as the
  agent's own model (graph → tools → tool → model vs. graph → agent → sequence → model).
  Two models at the outermost depth (a question-rewriting step before the answer) both
  count: tag the answer model and set ``answer_tag`` for those.

Tool call ids: ``on_tool_start`` events do not carry the model's tool call id, so a
:class:`~tokenwire.langchain.callbacks.ToolCallIds` handler on the config records it from
the callback. The id chosen at start (tool call id, else the input's ``tool_call_id``,
else the event's run id) is reused for the matching end or error, keyed by run id.

Custom events (``adispatch_custom_event``, LangGraph's ``get_stream_writer()``) and node
progress: see :mod:`.custom_events`.

Usage: every ``on_chat_model_end`` / ``on_llm_end``, nested models included (cost counts
everything). No usage callback is attached in this mode, so nothing is counted twice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import ToolMessage
from langchain_core.runnables import Runnable, RunnableConfig

from tokenwire.langchain.callbacks import ToolCallIds, with_handler
from tokenwire.langchain.chunks import emit_blocks, emit_reasoning_kwargs
from tokenwire.langchain.custom_events import (
    NOT_WRITTEN,
    graph_interrupts,
    graph_stream_kwargs,
    report,
    report_interrupt,
    report_node,
    report_updates,
    state_json,
    step_values,
    writer_payload,
)
from tokenwire.langchain.output import (
    Shape,
    final_output,
    message_text,
    to_jsonable,
    tool_output,
)
from tokenwire.langchain.sink import RunSink
from tokenwire.langchain.steps import StepLog
from tokenwire.langchain.tokens_mode import aclose
from tokenwire.langchain.usage import Usage, llm_output_usage, message_usage

__all__ = ["SNIPPET_CHARS", "stream_events"]

SNIPPET_CHARS = 200
"""How much of a retrieved document's ``page_content`` goes into its ``snippet``."""

Event = Mapping[str, Any]
_NOTHING: Any = object()


async def stream_events(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    sink: RunSink,
    answer_tag: str | None,
    progress: bool = False,
    shape: Shape = "auto",
    steps: StepLog | None = None,
    values: bool = False,
) -> Any:
    """Run ``runnable`` through ``astream_events`` and report to ``sink``; return the output.
    ``progress``: report the graph's nodes starting and ending (``RunSink.node``).
    ``steps``: where model calls, tool calls and retrievals are timed (None: not timed).
    ``values``: report a graph's state after every step (``RunSink.state``)."""
    tool_ids = ToolCallIds()
    run = _EventsRun(sink, answer_tag, tool_ids.by_run_id, steps)
    on_model_chunk = run.on_model_chunk
    handlers = _WITH_PROGRESS if progress else _HANDLERS
    graph = graph_stream_kwargs(runnable, values)
    run.graph = bool(graph)
    config = with_handler(config, tool_ids)
    stream = runnable.astream_events(input, config, version="v2", **graph)
    try:
        async for event in stream:
            kind = event["event"]
            if kind == "on_chat_model_stream":
                on_model_chunk(event)
                continue
            if kind == "on_chain_stream":  # several per token in graphs
                if event["run_id"] == run.root_run_id:
                    run.on_root_chunk(event)
                continue
            if run.root_run_id is None:
                run.root_run_id = event["run_id"]
            handler = handlers.get(kind)
            if handler is not None:
                handler(run, event)
            if event["run_id"] == run.root_run_id and kind.endswith("_end"):
                run.output = event["data"].get("output")
    finally:
        await aclose(stream)
    if run.graph and run.output is not _NOTHING:
        final = state_json(run.output)
        if final != run.last_state:  # the last step's state, when steps are reported
            sink.state(final)
    return None if run.output is _NOTHING else final_output(run.output, shape)


class _EventsRun:
    """The state of one events-mode stream (never shared between runs)."""

    def __init__(
        self,
        sink: RunSink,
        answer_tag: str | None,
        tool_ids: dict[str, str],
        steps: StepLog | None = None,
    ) -> None:
        self.sink = sink
        self.steps = steps
        self.token = sink.token
        self.reasoning = sink.reasoning
        self.answer_tag = answer_tag
        self.tool_ids = tool_ids
        self.root_run_id: str | None = None
        self.output: Any = _NOTHING
        # The depth of answer models; "unset" is larger than any depth. Tagged models: 0.
        self.answer_depth = 0 if answer_tag is not None else sys.maxsize
        self.answer_models: dict[str, int] = {}  # run id → depth, for candidate models
        self.not_answer_scopes: set[str] = set()  # tool and retriever run ids
        self.open_tools: dict[str, tuple[str, str]] = {}  # run id → (call id, name)
        self.documents_seen = 0
        # A runnable with no chat model at all (a plain generator) streams its answer as
        # the root's own string chunks.
        self.models_seen = False
        # A LangGraph graph streamed with its writer payloads as the root's chunks.
        self.graph = False
        # The graph's state after its last step, as reported (steps reported only).
        self.last_state: Any = _NOTHING

    def on_model_chunk(self, event: Event) -> None:
        depth = self.answer_models.get(event["run_id"])
        if depth is None or depth > self.answer_depth:
            return
        chunk = event["data"]["chunk"]
        content = chunk.content
        if isinstance(content, str):
            if content:
                self.token(content)
        elif content:
            emit_blocks(content, self.token, self.reasoning, _discard)
        if chunk.additional_kwargs:
            emit_reasoning_kwargs(chunk.additional_kwargs, self.reasoning)

    def on_root_chunk(self, event: Event) -> None:
        chunk = event["data"].get("chunk")
        if isinstance(chunk, str):
            if chunk and not self.models_seen:
                self.token(chunk)
        elif self.graph:
            payload = writer_payload(chunk)
            if payload is not NOT_WRITTEN:
                report(self.sink, None, payload)
                return
            values = step_values(chunk)
            if values is not NOT_WRITTEN:
                self.last_state = state_json(values)
                self.sink.state(self.last_state)
                return
            for found in graph_interrupts(chunk):
                report_interrupt(self.sink, found)
            report_updates(self.sink, chunk)

    def on_custom_event(self, event: Event) -> None:
        report(self.sink, event["name"], event["data"])

    def on_node_start(self, event: Event) -> None:
        report_node(self.sink, "start", event, self.root_run_id)

    def on_node_end(self, event: Event) -> None:
        report_node(self.sink, "end", event, self.root_run_id)

    def on_model_start(self, event: Event) -> None:
        self.models_seen = True
        run_id = event["run_id"]
        if self.steps is not None:
            model = _ls_model(event)
            self.steps.start(run_id, "llm", model or event["name"], event["parent_ids"], model)
        if self.answer_tag is not None:
            if self.answer_tag in event["tags"]:
                self.answer_models[run_id] = 0
            return
        parent_ids = event["parent_ids"]
        if any(parent in self.not_answer_scopes for parent in parent_ids):
            return
        depth = len(parent_ids)
        if depth < self.answer_depth:
            self.answer_depth = depth
        if depth == self.answer_depth:
            self.answer_models[run_id] = depth

    def on_legacy_llm_chunk(self, event: Event) -> None:
        depth = self.answer_models.get(event["run_id"])
        if depth is not None and depth <= self.answer_depth:
            text = getattr(event["data"].get("chunk"), "text", None)
            if isinstance(text, str) and text:
                self.token(text)

    def on_chat_model_end(self, event: Event) -> None:
        self.answer_models.pop(event["run_id"], None)
        self._report(message_usage(event["data"].get("output"), _ls_model(event)), event)

    def on_llm_end(self, event: Event) -> None:
        self.answer_models.pop(event["run_id"], None)
        output = event["data"].get("output")
        llm_output = output.get("llm_output") if isinstance(output, Mapping) else None
        self._report(llm_output_usage(llm_output, _ls_model(event)), event)

    def on_tool_start(self, event: Event) -> None:
        run_id = event["run_id"]
        name = event["name"]
        args = event["data"].get("input")
        call_id = self.tool_ids.pop(run_id, None)
        if isinstance(args, Mapping) and args.get("type") == "tool_call":
            call_id = call_id or _str_or_none(args.get("id"))
            args = args.get("args")
        if call_id is None and isinstance(args, Mapping):
            call_id = _str_or_none(args.get("tool_call_id"))
        call_id = call_id or _str_or_none(event["metadata"].get("tool_call_id")) or run_id
        self.not_answer_scopes.add(run_id)
        self.open_tools[run_id] = (call_id, name)
        if self.steps is not None:
            self.steps.start(run_id, "tool", name, event["parent_ids"], call_id=call_id)
        self.sink.tool_start(call_id, name, to_jsonable(args))

    def on_tool_end(self, event: Event) -> None:
        run_id = event["run_id"]
        output = event["data"].get("output")
        started = self.open_tools.pop(run_id, None)
        if started is not None:
            call_id, name = started
        else:
            call_id, name = run_id, event["name"]
            if isinstance(output, ToolMessage) and output.tool_call_id:
                call_id = output.tool_call_id
        error = None
        if isinstance(output, ToolMessage) and output.status == "error":
            error = message_text(output) or "tool error"
        if self.steps is not None:
            self.steps.end(run_id, error=None if error is None else "tool error")
        self.sink.tool_end(call_id, name, tool_output(output), error, str(run_id))

    def on_tool_error(self, event: Event) -> None:
        run_id = event["run_id"]
        data = event["data"]
        started = self.open_tools.pop(run_id, None)
        if started is not None:
            call_id, name = started
        else:
            call_id = _str_or_none(data.get("tool_call_id")) or run_id
            name = event["name"]
        error = data.get("error")
        message = (str(error) or type(error).__name__) if error is not None else "tool error"
        if self.steps is not None:  # the type only: a message may quote what a user said
            self.steps.end(run_id, error=type(error).__name__ if error is not None else "error")
        self.sink.tool_end(call_id, name, None, message)

    def on_retriever_start(self, event: Event) -> None:
        self.not_answer_scopes.add(event["run_id"])
        if self.steps is not None:
            self.steps.start(event["run_id"], "retriever", event["name"], event["parent_ids"])

    def on_retriever_end(self, event: Event) -> None:
        if self.steps is not None:
            self.steps.end(event["run_id"])
        output = event["data"].get("output")
        if not isinstance(output, list):
            return
        documents = []
        for doc in output:
            if isinstance(doc, Document):
                documents.append(self._describe(doc))
        if documents:
            self.sink.retrieval(documents)

    def _describe(self, doc: Document) -> dict[str, Any]:
        metadata = doc.metadata or {}
        doc_id = doc.id or metadata.get("id")
        index = self.documents_seen
        self.documents_seen += 1
        return {
            "id": str(doc_id) if doc_id is not None else f"doc-{index}",
            "source": to_jsonable(metadata.get("source") or metadata.get("url")),
            "title": to_jsonable(metadata.get("title")),
            "snippet": doc.page_content[:SNIPPET_CHARS],
        }

    def _report(self, usage: Usage | None, event: Event) -> None:
        if usage is not None:
            usage.report(self.sink)
        if self.steps is not None:
            self.steps.end(
                event["run_id"],
                input_tokens=None if usage is None else usage.input_tokens,
                output_tokens=None if usage is None else usage.output_tokens,
                model=None if usage is None else usage.model,
            )


def _discard(text: str) -> None:
    """Events mode keeps no text: the output comes from the root's end event."""


def _ls_model(event: Event) -> str | None:
    name = event["metadata"].get("ls_model_name")
    return name if isinstance(name, str) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_HANDLERS: dict[str, Callable[[_EventsRun, Event], None]] = {
    "on_chat_model_start": _EventsRun.on_model_start,
    "on_llm_start": _EventsRun.on_model_start,
    "on_llm_stream": _EventsRun.on_legacy_llm_chunk,
    "on_chat_model_end": _EventsRun.on_chat_model_end,
    "on_llm_end": _EventsRun.on_llm_end,
    "on_tool_start": _EventsRun.on_tool_start,
    "on_tool_end": _EventsRun.on_tool_end,
    "on_tool_error": _EventsRun.on_tool_error,
    "on_retriever_start": _EventsRun.on_retriever_start,
    "on_retriever_end": _EventsRun.on_retriever_end,
    "on_custom_event": _EventsRun.on_custom_event,
}
_WITH_PROGRESS = {
    **_HANDLERS,
    "on_chain_start": _EventsRun.on_node_start,
    "on_chain_end": _EventsRun.on_node_end,
}
