"""LangServe ``/stream_log``: ``astream_log``'s patches rebuilt from canonical events.

Each SSE ``data`` event is ``{"ops": [...]}``, JSON Patch operations on one run state, as
LangChain's ``LogStreamCallbackHandler`` writes them (``RemoteRunnable.astream_log``
yields them as ``RunLogPatch`` es; their sum is a ``RunLog`` whose ``state`` is the run):

- ``run.start`` → ``replace ""`` with ``{id, streamed_output: [], final_output: None,
  logs: {}, name, type}``: the root is the route (type ``llm`` for a chat-model route, else
  ``chain``);
- ``token`` → ``add /streamed_output/-``: an ``AIMessageChunk`` on a chat-model route (usage
  comes as a last, empty chunk with ``usage_metadata``, as on ``/stream``), else the text;
  inside a chain, each contiguous stretch of tokens is also one nested model's log entry
  (``/logs/<model>``, type ``llm``) whose ``streamed_output_str`` / ``streamed_output`` get
  each token and whose ``final_output`` is an ``LLMResult`` when the stretch ends;
- ``tool.start`` / ``tool.end``, ``retrieval``, ``node.start`` / ``node.end`` → log entries
  of type ``tool`` (``inputs``: the call's arguments; ``final_output``: ``{"output": …}``),
  ``retriever`` (``{"documents": [Document, …]}``, snippets as ``page_content``) and
  ``chain``; names repeat as LangChain repeats them: ``search``, ``search:2``, …; an
  entry's ``type`` is set by an op of its own right after it (the state is the same);
- ``run.end`` → ``replace /final_output`` with the run's output (the ``AIMessageChunk`` of
  the whole answer on a chat-model route), then ``end``; a failed or cancelled run ends
  with ``error`` instead (``{"status_code", "message"}``), a ``run.restart`` with a 503
  ``error`` (the stream cannot retract the text it sent).

Unlike LangChain, ``final_output`` is set once, at the end, not re-sent whole after every
token (that would make a stream's bytes grow with the square of its length): the
concatenated patches still end in the same state. Missing, as on ``stream_events`` (see
:mod:`.langserve_events`): prompt, parser and intermediate steps, ``tags``, ``metadata``,
inputs of model steps; custom events, which ``astream_log`` does not carry either. The
``include_*`` / ``exclude_*`` filters select log entries by name and type (the root is
always sent). ``start_time`` / ``end_time`` are when the gateway encoded the step.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
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
from tokenwire.protocols.langserve_events import EventFilter
from tokenwire.protocols.subscription import EventEncoder

__all__ = ["StreamLogEncoder"]

Op = dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


class StreamLogEncoder(EventEncoder):
    """One run's canonical events → LangServe ``stream_log`` SSE (see the module doc)."""

    def __init__(
        self,
        run_id: str,
        route: str,
        shape: OutputShape,
        event_filter: EventFilter | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        super().__init__()
        self._run_id = run_id
        self._root = root_run_id(run_id)
        self._route = route
        self._shape = shape
        self._filter = event_filter or EventFilter()
        self._clock = clock
        self._model = "chat_model"
        self._text: list[str] = []
        self._names: dict[str, int] = {}
        #: A tool call or a node → its log key (None: the filters left it out).
        self._steps: dict[str, str | None] = {}
        self._segment: str | None = None  # the open model stretch's log key
        self._segment_text: list[str] = []
        self._segments = 0

    def _encode(self, event: Event) -> bytes:
        kind, data = event.type, event.data
        if kind == EventType.TOKEN:
            return _patch(self._token(data["text"]))
        if kind == EventType.USAGE and self._shape == "message":
            return _patch([_append("/streamed_output", message_chunk(self._run_id, "", data))])
        if kind == EventType.RUN_START:
            self._model = data.get("model") or "chat_model"
            return _patch([self._root_state()])
        if kind in (EventType.TOOL_START, EventType.TOOL_END):
            return _patch(self._close_segment() + self._tool(kind, data))
        if kind == EventType.RETRIEVAL:
            return _patch(self._close_segment() + self._retrieval(event.seq, data["documents"]))
        if kind in (EventType.NODE_START, EventType.NODE_END):
            return _patch(self._close_segment() + self._node(kind, data))
        if kind == EventType.RUN_END:
            self.closed = True
            return self._end(data)
        if kind == EventType.RESTART:
            self.closed = True
            return sse("error", RESTARTED)
        return b""

    def _root_state(self) -> Op:
        state: dict[str, Any] = {
            "id": self._root,
            "streamed_output": [],
            "final_output": None,
            "logs": {},
            "name": self._route,
            "type": "llm" if self._shape == "message" else "chain",
        }
        return {"op": "replace", "path": "", "value": state}

    def _token(self, text: str) -> list[Op]:
        self._text.append(text)
        chunk = message_chunk(self._run_id, text)
        if self._shape == "message":
            return [_append("/streamed_output", chunk)]
        ops: list[Op] = []
        if self._segment is None:
            self._segments += 1
            child = self._child_id(f"model-{self._segments}")
            self._segment = self._open(self._model, "llm", child, ops)
        if self._segment:
            self._segment_text.append(text)
            ops.append(_append(f"/logs/{self._segment}/streamed_output_str", text))
            ops.append(_append(f"/logs/{self._segment}/streamed_output", chunk))
        ops.append(_append("/streamed_output", text))
        return ops

    def _close_segment(self) -> list[Op]:
        if self._segment is None:
            return []
        key, self._segment = self._segment, None
        text, self._segment_text = "".join(self._segment_text), []
        if not key:  # filtered out
            return []
        generation = {
            "text": text,
            "generation_info": None,
            "type": "ChatGeneration",
            "message": ai_message(self._run_id, text, None, None),
        }
        result = {"generations": [[generation]], "llm_output": None, "run": None}
        return self._finish(key, {**result, "type": "LLMResult"})

    def _tool(self, kind: str, data: dict[str, Any]) -> list[Op]:
        ops: list[Op] = []
        if kind == EventType.TOOL_START:
            child = self._child_id(data["call_id"])
            key = self._open(data["name"], "tool", child, ops, inputs=data["args"])
            self._steps[data["call_id"]] = key or None
            return ops
        ended = self._steps.pop(data["call_id"], None)
        if ended is None:
            return ops
        output = data["error"] if data.get("error") is not None else data.get("output")
        return self._finish(ended, {"output": output})

    def _retrieval(self, seq: int, documents: list[dict[str, Any]]) -> list[Op]:
        ops: list[Op] = []
        key = self._open("retriever", "retriever", self._child_id(f"retriever-{seq}"), ops)
        if not key:
            return ops
        docs = [
            {
                "id": d.get("id"),
                "page_content": d.get("snippet") or "",
                "metadata": {"source": d.get("source"), "title": d.get("title")},
                "type": "Document",
            }
            for d in documents
        ]
        return ops + self._finish(key, {"documents": docs})

    def _node(self, kind: str, data: dict[str, Any]) -> list[Op]:
        name = str(data.get("name"))
        node = f"node-{name}-{data.get('step')}"
        ops: list[Op] = []
        if kind == EventType.NODE_START:
            key = self._open(name, "chain", self._child_id(node), ops)
            self._steps[node] = key or None
            return ops
        ended = self._steps.pop(node, None)
        return ops if ended is None else self._finish(ended, None)  # its state is not known here

    def _open(self, name: str, run_type: str, run_id: str, ops: list[Op], **extra: Any) -> str:
        """Add a log entry (to ``ops``); its key, or ``""`` when the filters leave it out."""
        if not self._filter.allows(name, run_type):
            return ""
        count = self._names[name] = self._names.get(name, 0) + 1
        key = name if count == 1 else f"{name}:{count}"
        entry = {
            "id": run_id,
            "name": name,
            "tags": [],
            "metadata": {},
            "start_time": self._clock().isoformat(timespec="milliseconds"),
            "streamed_output": [],
            "streamed_output_str": [],
            **extra,
            "final_output": None,
            "end_time": None,
        }
        path = f"/logs/{_escape(key)}"
        # ``type`` by an op of its own: LangServe's client decodes every object whose
        # ``type`` is a message tag ("tool") as that message, and fails on a log entry.
        ops.append({"op": "add", "path": path, "value": entry})
        ops.append({"op": "add", "path": f"{path}/type", "value": run_type})
        return _escape(key)

    def _finish(self, key: str, output: Any) -> list[Op]:
        end = self._clock().isoformat(timespec="milliseconds")
        return [
            {"op": "add", "path": f"/logs/{key}/final_output", "value": output},
            {"op": "add", "path": f"/logs/{key}/end_time", "value": end},
        ]

    def _end(self, end: dict[str, Any]) -> bytes:
        closed = _patch(self._close_segment())
        error = failure(end)
        if error is not None:
            return closed + sse("error", error)
        output: Any = end.get("output")
        if self._shape == "message":
            whole = ai_message(self._run_id, "".join(self._text), output, end.get("usage"))
            output = {**whole, "type": "AIMessageChunk", "tool_call_chunks": []}
        final = {"op": "replace", "path": "/final_output", "value": output}
        return closed + _patch([final]) + sse("end")

    def _child_id(self, key: str) -> str:
        return str(uuid.uuid5(uuid.UUID(self._root), key))


def _append(path: str, value: Any) -> Op:
    return {"op": "add", "path": f"{path}/-", "value": value}


def _patch(ops: list[Op]) -> bytes:
    return sse("data", {"ops": ops}) if ops else b""


def _escape(key: str) -> str:
    """A log key as a JSON Pointer segment (RFC 6901: ``~`` → ``~0``, ``/`` → ``~1``)."""
    return key.replace("~", "~0").replace("/", "~1")
