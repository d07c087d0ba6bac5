"""``StreamLogEncoder`` on hand-made runs: the state its patches build, step by step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonpatch

from tokenwire.events import Event
from tokenwire.protocols.langserve_events import EventFilter
from tokenwire.protocols.langserve_log import StreamLogEncoder

RUN_ID = "0123456789abcdef0123456789abcdef"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def encode(events: list[tuple[str, dict[str, Any]]], **options: Any) -> tuple[Any, list[str]]:
    """The state the ``data`` patches build, and the SSE event names in order."""
    start = ("run.start", {"run_id": RUN_ID, "route": "qa", "trace_id": "t", "model": "gpt"})
    encoder = StreamLogEncoder(RUN_ID, "qa", "value", clock=lambda: AT, **options)
    raw = encoder.encode([Event(i, k, d) for i, (k, d) in enumerate([start, *events], 1)])
    state: Any = None
    names = []
    for frame in raw.decode().split("\n\n")[:-1]:
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        names.append(lines["event"])
        if lines["event"] == "data":
            state = jsonpatch.apply_patch(state, json.loads(lines["data"])["ops"])
    return state, names


def tokens(*texts: str) -> list[tuple[str, dict[str, Any]]]:
    return [("token", {"text": text}) for text in texts]


END = ("run.end", {"status": "completed", "output": "ab c", "usage": {}})


def test_each_stretch_of_tokens_is_one_model_entry_and_names_repeat() -> None:
    tool = {"call_id": "c1", "name": "search", "args": {"q": "x"}}
    state, names = encode(
        [
            *tokens("a", "b"),
            ("tool.start", tool),
            ("tool.end", {**tool, "output": "found"}),
            *tokens(" c"),
            END,
        ]
    )
    assert names[-1] == "end" and set(names[:-1]) == {"data"}
    assert state["streamed_output"] == ["a", "b", " c"] and state["final_output"] == "ab c"
    assert list(state["logs"]) == ["gpt", "search", "gpt:2"]
    first, search = state["logs"]["gpt"], state["logs"]["search"]
    assert first["type"] == "llm" and first["streamed_output_str"] == ["a", "b"]
    assert first["final_output"]["generations"][0][0]["text"] == "ab"
    assert first["start_time"] == first["end_time"] == "2026-01-02T03:04:05.000+00:00"
    assert search["type"] == "tool" and search["inputs"] == {"q": "x"}
    assert search["final_output"] == {"output": "found"}
    assert state["logs"]["gpt:2"]["streamed_output_str"] == [" c"]


def test_filters_drop_entries_but_never_the_root_stream() -> None:
    tool = {"call_id": "c1", "name": "search", "args": {}}
    only_tools = EventFilter(include_types=["tool"])
    state, _ = encode(
        [*tokens("a"), ("tool.start", tool), ("tool.end", tool), END], event_filter=only_tools
    )
    assert list(state["logs"]) == ["search"] and state["streamed_output"] == ["a"]


def test_a_failed_or_restarted_run_ends_with_an_error() -> None:
    failed = ("run.end", {"status": "failed", "error": {"code": "internal", "message": "x"}})
    assert encode([*tokens("a"), failed])[1][-1] == "error"
    assert encode([*tokens("a"), ("run.restart", {}), *tokens("b"), END])[1][-1] == "error"
