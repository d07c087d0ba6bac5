"""The LangGraph stream encoder on its own: canonical events in, the SDK's SSE frames out,
read back with ``langgraph-sdk``'s own SSE decoder."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk.sse import SSEDecoder

from tokenwire.events import Event, EventType
from tokenwire.protocols.langgraph import LangGraphEncoder, stream_modes

RUN = [
    Event(1, EventType.RUN_START, {"run_id": "r1", "route": "agent"}),
    Event(2, EventType.NODE_START, {"name": "chat", "step": 1}),
    Event(3, EventType.TOKEN, {"text": "Hel"}),
    Event(4, EventType.TOKEN, {"text": "lo"}),
    Event(5, EventType.NODE_UPDATE, {"name": "chat", "update": {"n": 1}}),
    Event(6, EventType.TOKEN, {"text": "again"}),
    Event(7, EventType.CUSTOM, {"data": {"p": 1}}),
    Event(8, EventType.INTERRUPT, {"interrupt_id": "i1", "value": "ok?"}),
    Event(9, EventType.GRAPH_STATE, {"values": {"n": 1}}),
    Event(10, EventType.RUN_END, {"status": "interrupted", "output": "again"}),
]


def decode(wire: bytes) -> list[tuple[str, Any, str | None]]:
    decoder, parts = SSEDecoder(), []
    for line in wire.split(b"\n"):
        part = decoder.decode(line)
        if part is not None:
            parts.append((part.event, part.data, part.id))
    return parts


def test_every_mode() -> None:
    encoder = LangGraphEncoder(
        "r1", "t1", stream_modes(["messages-tuple", "updates", "custom", "values"])
    )
    parts = decode(encoder.encode(RUN))
    assert [(event, id_) for event, _, id_ in parts] == [
        ("metadata", "1"),
        ("messages", "3"),
        ("messages", "4"),
        ("updates", "5"),
        ("messages", "6"),
        ("custom", "7"),
        ("updates", "8"),
        ("values", "9"),
    ]
    assert parts[0][1] == {"run_id": "r1", "attempt": 1}
    hel, lo, again = (data for event, data, _ in parts if event == "messages")
    assert hel[0]["id"] == lo[0]["id"] != again[0]["id"]  # one answer, then another
    assert hel[1] == {"thread_id": "t1", "langgraph_node": "chat"}
    assert parts[3][1] == {"chat": {"n": 1}}
    assert parts[6][1] == {"__interrupt__": [{"value": "ok?", "id": "i1"}]}
    assert parts[7][1] == {"n": 1, "__interrupt__": [{"value": "ok?", "id": "i1"}]}
    assert encoder.closed


def test_a_tool_step_is_a_tool_message() -> None:
    encoder = LangGraphEncoder("r1", "t1", stream_modes("messages-tuple"))
    steps = [
        Event(1, EventType.TOOL_START, {"call_id": "c1", "name": "add", "args": {"a": 1}}),
        Event(2, EventType.TOOL_END, {"call_id": "c1", "name": "add", "output": {"sum": 2}}),
        Event(
            3, EventType.TOOL_END, {"call_id": "c2", "name": "add", "output": None, "error": "no"}
        ),
    ]
    [(_, ok, _), (_, failed, _)] = decode(encoder.encode(steps))
    assert ok[0]["type"] == "tool" and ok[0]["tool_call_id"] == "c1"
    assert ok[0]["content"] == '{"sum":2}' and ok[0]["status"] == "success"
    assert failed[0]["content"] == "no" and failed[0]["status"] == "error"


def test_only_the_asked_modes_and_errors_always() -> None:
    encoder = LangGraphEncoder("r1", None, stream_modes(None))  # default: values
    error = Event(9, EventType.ERROR, {"code": "internal", "message": "boom", "retryable": False})
    parts = decode(encoder.encode([*RUN[:8], error]))
    assert [(event, data) for event, data, _ in parts] == [
        ("metadata", {"run_id": "r1", "attempt": 1}),
        ("error", {"error": "internal", "message": "boom"}),
    ]


@pytest.mark.parametrize("value", ["debug", ["values", "events"], 3, [None]])
def test_modes_it_does_not_carry_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="stream_mode"):
        stream_modes(value)


def test_messages_mode_is_langgraph_apis_partial_messages() -> None:
    encoder = LangGraphEncoder("r1", "t1", stream_modes(["messages", "updates"]))
    tool = Event(11, EventType.TOOL_END, {"call_id": "c1", "name": "add", "output": 2})
    parts = decode(encoder.encode([*RUN[:7], tool]))
    assert [(event, id_) for event, _, id_ in parts] == [
        ("metadata", "1"),
        ("messages/metadata", "1"),  # an answer begins: its metadata (no id of its own)...
        ("messages/partial", "3"),  # ...then the answer so far
        ("messages/partial", "4"),
        ("updates", "5"),
        ("messages/metadata", "5"),
        ("messages/partial", "6"),
        ("messages/metadata", "6"),
        ("messages/complete", "11"),
    ]
    first, hel, lo = parts[1][1], parts[2][1], parts[3][1]
    assert [m["content"] for m in (hel[0], lo[0])] == ["Hel", "Hello"]
    assert hel[0]["type"] == "ai" and hel[0]["id"] == lo[0]["id"] != parts[6][1][0]["id"]
    assert first == {hel[0]["id"]: {"metadata": {"thread_id": "t1", "langgraph_node": "chat"}}}
    assert parts[8][1][0]["type"] == "tool" and parts[8][1][0]["tool_call_id"] == "c1"


def test_messages_tuple_wins_over_messages() -> None:
    encoder = LangGraphEncoder("r1", "t1", stream_modes(["messages", "messages-tuple"]))
    events = [event for event, _, _ in decode(encoder.encode(RUN[:4]))]
    assert events == ["metadata", "messages", "messages"]


@pytest.mark.parametrize("tokens", ["messages-tuple", "messages"])
@pytest.mark.parametrize("after", range(1, len(RUN)))
def test_a_rejoin_reads_as_the_first_connection_did(after: int, tokens: str) -> None:
    """Message ids, the node, the text so far and the interrupts depend on the events
    before the cursor: an encoder given them frames what follows as the whole stream did."""
    modes = stream_modes([tokens, "updates", "custom", "values"])
    encoder = LangGraphEncoder("r1", "t1", modes)
    by_event = [frames(encoder.encode([event])) for event in RUN]
    rejoined = LangGraphEncoder("r1", "t1", modes, RUN[:after]).encode(RUN[after:])
    assert frames(rejoined) == [part for parts in by_event[after:] for part in parts]


def frames(wire: bytes) -> list[tuple[str, Any]]:
    """Each frame's event and data (the decoder's ids are sticky across frames)."""
    return [(event, data) for event, data, _ in decode(wire)]
