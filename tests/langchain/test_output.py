from __future__ import annotations

import datetime
import enum
import json
import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from pydantic import BaseModel

from tokenwire.langchain.output import final_output, to_jsonable, tool_output


def test_messages_become_their_text() -> None:
    assert final_output(AIMessage("hi")) == "hi"
    blocks: list[str | dict[str, Any]] = [
        {"type": "reasoning", "reasoning": "r"},
        {"type": "text", "text": "a"},
        "b",
    ]
    assert final_output(AIMessage(content=blocks)) == "ab"


def test_tool_calls_are_kept_on_a_final_message() -> None:
    message = AIMessage("", tool_calls=[{"id": "c1", "name": "f", "args": {"x": 1}}])
    assert final_output(message) == {
        "type": "ai",
        "content": "",
        "tool_calls": [{"id": "c1", "name": "f", "args": {"x": 1}}],
    }


def test_graph_state_becomes_the_last_message_text() -> None:
    state = {"messages": [HumanMessage("q"), AIMessage("answer")], "remaining_steps": 3}
    assert final_output(state) == "answer"
    assert final_output({"messages": []}) == {"messages": []}


def test_nested_values() -> None:
    class Color(enum.Enum):
        RED = "red"

    class Point(BaseModel):
        x: int
        when: datetime.date

    @dataclass
    class Box:
        items: tuple[Any, ...]

    run_id = uuid.UUID(int=1)
    value = {
        "doc": Document(id="d", page_content="text", metadata={"source": "s"}),
        "messages": [HumanMessage("q"), ToolMessage("r", tool_call_id="c")],
        "point": Point(x=1, when=datetime.date(2024, 5, 1)),
        "box": Box(items=(Color.RED, b"\xffok", run_id)),
        1: {"set": {2}},
    }

    result = to_jsonable(value)

    assert result == {
        "doc": {"id": "d", "metadata": {"source": "s"}, "page_content": "text", "type": "Document"},
        "messages": [
            {"type": "human", "content": "q"},
            {"type": "tool", "content": "r", "tool_call_id": "c"},
        ],
        "point": {"x": 1, "when": "2024-05-01"},
        "box": {"items": ["red", "\ufffdok", str(run_id)]},
        "1": {"set": [2]},
    }
    assert final_output(value) == "r"  # a "messages" list ending in a message: graph state
    json.dumps(result)


def test_cycles_end_as_strings() -> None:
    loop: list[Any] = []
    loop.append(loop)
    json.dumps(to_jsonable(loop))


def test_tool_output() -> None:
    assert tool_output(ToolMessage("found", tool_call_id="c")) == "found"
    assert tool_output(ToolMessage([{"type": "text", "text": "t"}], tool_call_id="c")) == [
        {"type": "text", "text": "t"}
    ]
    assert tool_output({"n": 1}) == {"n": 1}
