"""LangServe ``/stream_events``: ``astream_events(version="v2")``-shaped events rebuilt
from canonical events.

Canonical events are coarser than LangChain's callback tree, so this is a faithful
*subset*, not a replay:

- the root is ``on_chat_model_start/stream/end`` for a chat-model route, else
  ``on_chain_start/stream/end`` named after the route (``on_chain_stream`` carries the
  answer's text deltas);
- inside a chain, each contiguous stretch of ``token`` events is one nested chat model
  call (``on_chat_model_start`` … ``on_chat_model_end``); its ``input`` is not known to
  the gateway and is sent as ``{}``;
- ``tool.start`` / ``tool.end`` → ``on_tool_start`` / ``on_tool_end`` (``run_id`` derived
  from the tool call id); ``retrieval`` → ``on_retriever_start`` + ``on_retriever_end``
  with the cited ``Document`` s (a snippet as ``page_content``, not the full text);
- ``custom`` → ``on_custom_event`` with the event's name (``custom`` for a LangGraph
  ``get_stream_writer()`` payload, which has none) and its ``data``, as LangChain sends
  it; its ``run_id`` is the root's (the gateway does not know which step dispatched it)
  and, as in LangChain, its run type for the filters is its name;
- ``interrupt`` / ``approval.required`` (a LangGraph graph paused) → ``on_custom_event``
  named ``interrupt`` (``data``: ``{interrupt_id, value}``) / ``approval.required``
  (``data``: ``{call_id, interrupt_id, name, args, description, allowed_decisions}``),
  from the root like any custom event; the run then ends normally (``on_chain_end``
  with the state so far);
- ``node.start`` / ``node.end`` (routes with ``progress``) → the node's ``on_chain_start``
  / ``on_chain_end`` (named after the node, run type ``chain``);
- missing entirely: prompt, parser and other intermediate chain steps, nested chains,
  ``on_*_start`` inputs of nested steps, ``tags`` and ``metadata`` (always empty), and
  models nested inside tools — the gateway never records them. ``run_id`` s are stable
  UUIDs derived from the tokenwire run id, and ``parent_ids`` name the root.

``include_*`` / ``exclude_*`` filters apply to these events as LangChain applies them
(names, run types ``chat_model`` / ``chain`` / ``tool`` / ``retriever``; tags never match).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tokenwire.events import Event, EventType
from tokenwire.protocols.langserve import (
    RESTARTED,
    OutputShape,
    ai_message,
    failure,
    message_chunk,
    root_run_id,
    sse,
)
from tokenwire.protocols.subscription import EventEncoder

__all__ = ["EventFilter", "StreamEventsEncoder"]


@dataclass(frozen=True, slots=True)
class EventFilter:
    include_names: Sequence[str] | None = None
    include_types: Sequence[str] | None = None
    include_tags: Sequence[str] | None = None
    exclude_names: Sequence[str] | None = None
    exclude_types: Sequence[str] | None = None
    exclude_tags: Sequence[str] | None = None

    def allows(self, name: str, run_type: str) -> bool:
        included = (
            self.include_names is None and self.include_types is None and not self.include_tags
        ) or (name in (self.include_names or ()) or run_type in (self.include_types or ()))
        excluded = name in (self.exclude_names or ()) or run_type in (self.exclude_types or ())
        return included and not excluded


class StreamEventsEncoder(EventEncoder):
    """One run's canonical events → LangServe ``stream_events`` SSE (see module doc)."""

    def __init__(
        self,
        run_id: str,
        route: str,
        shape: OutputShape,
        input: Any,
        event_filter: EventFilter | None = None,
    ) -> None:
        super().__init__()
        self._run_id = run_id
        self._root = root_run_id(run_id)
        self._route = route
        self._shape = shape
        self._input = input
        self._filter = event_filter or EventFilter()
        self._model: str = "chat_model"
        self._segment: str | None = None
        self._segments = 0
        self._text: list[str] = []
        self._segment_text: list[str] = []

    def _child_id(self, key: str) -> str:
        return str(uuid.uuid5(uuid.UUID(self._root), key))

    def _event(self, event: str, name: str, run_type: str, run_id: str, data: Any) -> bytes:
        if not self._filter.allows(name, run_type):
            return b""
        parents = [] if run_id == self._root else [self._root]
        payload = {
            "event": event,
            "name": name,
            "run_id": run_id,
            "parent_ids": parents,
            "tags": [],
            "metadata": {},
            "data": data,
        }
        return sse("data", payload)

    def _root_event(self, phase: str, data: dict[str, Any]) -> bytes:
        kind = "chat_model" if self._shape == "message" else "chain"
        return self._event(f"on_{kind}_{phase}", self._route, kind, self._root, data)

    def _encode(self, event: Event) -> bytes:
        kind, data = event.type, event.data
        if kind == EventType.RUN_START:
            self._model = data.get("model") or "chat_model"
            return self._root_event("start", {"input": self._input})
        if kind == EventType.TOKEN:
            return self._token(data["text"])
        if kind in (EventType.TOOL_START, EventType.TOOL_END):
            return self._close_segment() + self._tool(kind, data)
        if kind == EventType.RETRIEVAL:
            return self._close_segment() + self._retrieval(event.seq, data["documents"])
        if kind == EventType.CUSTOM:
            name = data.get("name") or "custom"
            custom = self._event("on_custom_event", name, name, self._root, data.get("data"))
            return self._close_segment() + custom
        if kind in (EventType.INTERRUPT, EventType.APPROVAL_REQUIRED):
            pause = self._event("on_custom_event", kind, kind, self._root, data)
            return self._close_segment() + pause
        if kind in (EventType.NODE_START, EventType.NODE_END):
            return self._close_segment() + self._node(kind, data)
        if kind == EventType.RUN_END:
            self.closed = True
            return self._end(data)
        if kind == EventType.RESTART:
            self.closed = True
            return sse("error", RESTARTED)
        return b""

    def _tool(self, kind: str, data: dict[str, Any]) -> bytes:
        run_id = self._child_id(data["call_id"])
        if kind == EventType.TOOL_START:
            return self._event(
                "on_tool_start", data["name"], "tool", run_id, {"input": data["args"]}
            )
        output = data["error"] if data.get("error") is not None else data.get("output")
        return self._event("on_tool_end", data["name"], "tool", run_id, {"output": output})

    def _node(self, kind: str, data: dict[str, Any]) -> bytes:
        name = str(data.get("name"))
        run_id = self._child_id(f"node-{name}-{data.get('step')}")
        if kind == EventType.NODE_START:
            return self._event("on_chain_start", name, "chain", run_id, {"input": {}})
        data = {"input": {}, "output": None}  # the node's state is not known to the gateway
        return self._event("on_chain_end", name, "chain", run_id, data)

    def _token(self, text: str) -> bytes:
        self._text.append(text)
        self._segment_text.append(text)
        chunk = message_chunk(self._run_id, text)
        if self._shape == "message":
            return self._root_event("stream", {"chunk": chunk})
        opened = b""
        if self._segment is None:
            self._segments += 1
            self._segment = self._child_id(f"model-{self._segments}")
            opened = self._event(
                "on_chat_model_start", self._model, "chat_model", self._segment, {"input": {}}
            )
        stream = self._event(
            "on_chat_model_stream", self._model, "chat_model", self._segment, {"chunk": chunk}
        )
        return opened + stream + self._root_event("stream", {"chunk": text})

    def _close_segment(self) -> bytes:
        if self._segment is None:
            return b""
        segment, self._segment = self._segment, None
        text, self._segment_text = "".join(self._segment_text), []
        output = ai_message(self._run_id, text, None, None)
        data = {"input": {}, "output": output}
        return self._event("on_chat_model_end", self._model, "chat_model", segment, data)

    def _retrieval(self, seq: int, documents: list[dict[str, Any]]) -> bytes:
        run_id = self._child_id(f"retriever-{seq}")
        docs = [
            {
                "id": d.get("id"),
                "page_content": d.get("snippet") or "",
                "metadata": {"source": d.get("source"), "title": d.get("title")},
                "type": "Document",
            }
            for d in documents
        ]
        start = self._event("on_retriever_start", "retriever", "retriever", run_id, {"input": {}})
        end = self._event(
            "on_retriever_end", "retriever", "retriever", run_id, {"input": {}, "output": docs}
        )
        return start + end

    def _end(self, end: dict[str, Any]) -> bytes:
        closed = self._close_segment()
        error = failure(end)
        if error is not None:
            return closed + sse("error", error)
        output: Any = end.get("output")
        if self._shape == "message":
            output = ai_message(self._run_id, "".join(self._text), output, end.get("usage"))
        return closed + self._root_event("end", {"output": output}) + sse("end")
