"""LangGraph's server API stream: canonical events → the SSE ``langgraph-sdk`` parses.

Each frame is ``event: <mode>`` / ``data: <json>``; the last frame a canonical event becomes
carries ``id: <seq>``, so the SDK's ``Last-Event-ID`` resumes after that event exactly
(events that become nothing in the asked modes advance no id, and replay as nothing).
An encoder that starts after a cursor is given the events before it (``history``): the
message id of a token, its node and the interrupts so far depend on them, and a rejoined
stream must read as the first connection would have.

=================  ==========================================================================
canonical event    frames (only for the stream modes asked)
=================  ==========================================================================
``run.start``      ``metadata`` ``{run_id, attempt: 1}`` — always, first
``token``          ``messages-tuple``: ``messages`` ``[AIMessageChunk, metadata]``; the chunks
                   of one answer share an ``id``, a new id after any other event.
                   ``messages`` (without ``messages-tuple``, which wins as in
                   langgraph-api): ``messages/metadata`` ``{id: {metadata}}`` for an
                   answer's first token, then ``messages/partial`` ``[AIMessage]`` with
                   the answer's text so far
``tool.end``       ``messages-tuple``: ``messages`` ``[ToolMessage, metadata]``;
                   ``messages``: ``messages/metadata``, ``messages/complete``
                   ``[ToolMessage]``
``node.update``    ``updates`` ``{node: update}``
``interrupt``      ``updates`` ``{"__interrupt__": [{value, id}]}``
``custom``         ``custom`` with the payload (``data``)
``error``          ``error`` ``{error: code, message}`` — always
``graph.state``    ``values``: the graph's state when it stopped, with ``__interrupt__``
                   when it paused
=================  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from tokenwire.events import Event, EventType

__all__ = ["SUPPORTED_MODES", "LangGraphEncoder", "stream_modes"]

#: The stream modes this front end carries; others are refused before a run starts.
SUPPORTED_MODES = frozenset({"values", "updates", "messages-tuple", "messages", "custom"})
_DEFAULT_MODES = frozenset({"values"})


def stream_modes(value: Any) -> frozenset[str]:
    """A request's ``stream_mode`` (one mode or a list; default ``values``); ``ValueError``
    naming a mode this front end does not carry."""
    if value is None:
        return _DEFAULT_MODES
    modes = [value] if isinstance(value, str) else value
    if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
        raise ValueError("stream_mode: must be a mode or a list of modes")
    unknown = sorted(set(modes) - SUPPORTED_MODES)
    if unknown:
        raise ValueError(f"stream_mode: not supported here: {', '.join(unknown)}")
    return frozenset(modes) or _DEFAULT_MODES


class LangGraphEncoder:
    """One response's encoder for run ``run_id`` (on ``thread_id``) in ``modes``."""

    __slots__ = (
        "_interrupts",
        "_message",
        "_modes",
        "_node",
        "_partial",
        "_segment",
        "_text",
        "_thread_id",
        "closed",
    )

    def __init__(
        self,
        run_id: str,
        thread_id: str | None,
        modes: frozenset[str],
        history: Sequence[Event] = (),
    ) -> None:
        self._modes = modes
        self._thread_id = thread_id
        self._message = f"run--{run_id}"
        self._segment = 0
        self._node: str | None = None
        self._interrupts: list[dict[str, Any]] = []
        # ``messages`` mode sends each answer's text so far: kept only when it is asked.
        self._partial = "messages" in modes and "messages-tuple" not in modes
        self._text = ""
        self.closed = False
        for event in history:
            self._observe(event)

    def encode(self, events: Sequence[Event]) -> bytes:
        out = bytearray()
        for event in events:
            frames = self._frames(event)
            for index, (name, data) in enumerate(frames):
                if index == len(frames) - 1:
                    out += b"id: %d\n" % event.seq
                out += b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(data))
        return bytes(out)

    def _observe(self, event: Event) -> None:
        """What the frames of later events depend on: the message the tokens belong to,
        the node that runs, the interrupts so far."""
        kind = event.type
        if kind == EventType.TOKEN:
            if self._partial:
                self._text += event.data["text"]
            return
        self._segment += 1  # tokens after anything else are another message
        self._text = ""
        if kind == EventType.NODE_START:
            self._node = event.data["name"]
        elif kind == EventType.INTERRUPT:
            data = event.data
            self._interrupts.append({"value": data["value"], "id": data["interrupt_id"]})
        elif kind == EventType.RUN_END:
            self.closed = True

    def _frames(self, event: Event) -> list[tuple[str, Any]]:
        self._observe(event)
        kind, data, modes = event.type, event.data, self._modes
        if kind == EventType.TOKEN:
            if self._partial:
                return self._partial_frames(data["text"])
            if "messages-tuple" not in modes:
                return []
            return [("messages", [self._chunk(data["text"]), self._metadata()])]
        if kind == EventType.RUN_START:
            return [("metadata", {"run_id": data["run_id"], "attempt": 1})]
        if kind == EventType.NODE_UPDATE and "updates" in modes:
            return [("updates", {data["name"]: data["update"]})]
        elif kind == EventType.INTERRUPT:
            if "updates" in modes:
                return [("updates", {"__interrupt__": [self._interrupts[-1]]})]
        elif kind == EventType.TOOL_END and "messages-tuple" in modes:
            return [("messages", [self._tool_message(data), self._metadata()])]
        elif kind == EventType.TOOL_END and self._partial:
            message = self._tool_message(data)
            return [
                ("messages/metadata", {message["id"]: {"metadata": self._metadata()}}),
                ("messages/complete", [message]),
            ]
        elif kind == EventType.GRAPH_STATE and "values" in modes:
            return [("values", self._values(data["values"]))]
        elif kind == EventType.CUSTOM and "custom" in modes:
            return [("custom", data.get("data"))]
        elif kind == EventType.ERROR:
            return [("error", {"error": data["code"], "message": data["message"]})]
        return []

    def _values(self, values: Any) -> Any:
        if not self._interrupts:
            return values
        return {**(values if isinstance(values, dict) else {}), "__interrupt__": self._interrupts}

    def _partial_frames(self, text: str) -> list[tuple[str, Any]]:
        """langgraph-api's ``messages`` mode: the metadata when an answer begins, then the
        answer so far (an ``AIMessage``, as it merges the chunks) with every token."""
        message_id = f"{self._message}-{self._segment}"
        message: dict[str, Any] = {
            "content": self._text,
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "ai",
            "name": None,
            "id": message_id,
            "example": False,
            "tool_calls": [],
            "invalid_tool_calls": [],
            "usage_metadata": None,
        }
        partial = ("messages/partial", [message])
        if self._text != text:
            return [partial]
        return [("messages/metadata", {message_id: {"metadata": self._metadata()}}), partial]

    def _chunk(self, text: str) -> dict[str, Any]:
        return {
            "content": text,
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "AIMessageChunk",
            "name": None,
            "id": f"{self._message}-{self._segment}",
            "example": False,
            "tool_calls": [],
            "invalid_tool_calls": [],
            "tool_call_chunks": [],
            "usage_metadata": None,
        }

    def _tool_message(self, data: dict[str, Any]) -> dict[str, Any]:
        """A finished tool step as LangChain's ``ToolMessage`` (content is text)."""
        output = data.get("error") or data.get("output")
        content = output if isinstance(output, str) else orjson.dumps(output).decode()
        return {
            "content": content,
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "tool",
            "name": data.get("name"),
            "id": f"{self._message}-tool-{data['call_id']}",
            "tool_call_id": data["call_id"],
            "artifact": None,
            "status": "error" if data.get("error") else "success",
        }

    def _metadata(self) -> dict[str, Any]:
        return {"thread_id": self._thread_id, "langgraph_node": self._node}
