"""Custom events in events mode: LangGraph's ``get_stream_writer()`` and LangChain's
``adispatch_custom_event``, and graph node progress."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.callbacks import adispatch_custom_event, dispatch_custom_event
from langchain_core.runnables import RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import AdapterOptions, stream_runnable
from tokenwire.testing import ScriptedChatModel, text_turn


class State(TypedDict, total=False):
    question: str
    answer: str


def _compact(sink: RecordingSink) -> list[Any]:
    """The sink's calls with runs of tokens joined: ``["Hello", ("custom", ...), ...]``."""
    out: list[Any] = []
    for kind, value in sink.calls:
        if kind == "usage":
            continue
        if kind == "token" and out and isinstance(out[-1], str):
            out[-1] += value
        elif kind == "token":
            out.append(value)
        else:
            out.append((kind, value))
    return out


def _graph_between_model_calls() -> Any:
    model = ScriptedChatModel(turns=[text_turn("Hel", "lo"), text_turn(" wor", "ld")])

    async def answer(state: State) -> State:
        write = get_stream_writer()
        write({"stage": "thinking"})
        first = await model.ainvoke(state["question"])
        write({"stage": "half", "n": 1})
        second = await model.ainvoke("more")
        await adispatch_custom_event("progress", {"pct": 100})
        return {"answer": str(first.content) + str(second.content)}

    return StateGraph(State).add_node(answer).add_edge(START, "answer").compile()


async def test_writer_payloads_and_dispatched_events_keep_their_place(sink: RecordingSink) -> None:
    output = await stream_runnable(_graph_between_model_calls(), {"question": "hi"}, None, sink)

    assert output == {"question": "hi", "answer": "Hello world"}
    assert _compact(sink) == [
        ("custom", (None, {"stage": "thinking"}, None)),
        "Hello",
        ("custom", (None, {"stage": "half", "n": 1}, None)),
        " world",
        ("custom", ("progress", {"pct": 100}, None)),
    ]


async def test_a_bound_graph_and_a_subgraph_stream_their_writer_payloads(
    sink: RecordingSink,
) -> None:
    def inner_node(state: State) -> State:  # sync: LangGraph runs it in a thread
        get_stream_writer()("from the subgraph")
        return {"answer": "done"}

    inner = StateGraph(State).add_node(inner_node).add_edge(START, "inner_node").compile()
    graph = StateGraph(State).add_node("sub", inner).add_edge(START, "sub").compile()

    await stream_runnable(graph.with_config(tags=["x"]), {"question": "q"}, None, sink)

    assert sink.of("custom") == [(None, "from the subgraph", None)]


async def test_a_chain_dispatches_named_events(sink: RecordingSink) -> None:
    async def step(question: str) -> str:
        await adispatch_custom_event("looked_up", {"question": question, "hits": 2})
        return question

    def sync_step(question: str) -> str:
        dispatch_custom_event("checked", [1, 2])
        return question

    chain = (
        RunnableLambda(step)
        | RunnableLambda(sync_step)
        | ScriptedChatModel(turns=[text_turn("ok")])
    )

    await stream_runnable(chain, "q", None, sink, AdapterOptions("events"))

    assert _compact(sink) == [
        ("custom", ("looked_up", {"question": "q", "hits": 2}, None)),
        ("custom", ("checked", [1, 2], None)),
        "ok",
    ]


async def test_a_chain_streaming_tuples_is_not_a_graph(sink: RecordingSink) -> None:
    async def triples(_: Any) -> AsyncIterator[tuple[str, str, str]]:
        yield ("ns", "custom", "not a writer payload")

    await stream_runnable(RunnableLambda(triples), "q", None, sink, AdapterOptions("events"))

    assert sink.of("custom") == []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


async def test_data_is_converted_to_json_now_or_reported_as_unserialisable(
    sink: RecordingSink,
) -> None:
    async def node(state: State) -> State:
        write = get_stream_writer()
        payload = {"at": Point(1, 2), "tags": {"a"}}
        await adispatch_custom_event("point", payload)
        payload["at"] = Point(9, 9)  # after the event: what was sent does not change
        await adispatch_custom_event("odd", Unprintable())
        write(Unprintable())
        return {"answer": "x"}

    graph = StateGraph(State).add_node(node).add_edge(START, "node").compile()

    assert await stream_runnable(graph, {}, None, sink) == {"answer": "x"}

    error = "the data (Unprintable) is not JSON-serialisable"
    assert sink.of("custom") == [
        ("point", {"at": {"x": 1, "y": 2}, "tags": ["a"]}, None),
        ("odd", None, error),
        (None, None, error),
    ]


async def test_progress_reports_the_graphs_own_nodes_in_order(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("An", "swer")])

    async def plan(state: State) -> State:
        await RunnableLambda(lambda x: x, name="plan").ainvoke(1)  # a run named like a node
        return {}

    async def answer(state: State) -> State:
        return {"answer": str((await model.ainvoke("q")).content)}

    inner = StateGraph(State).add_node("inner", lambda s: {}).add_edge(START, "inner").compile()
    graph = (
        StateGraph(State)
        .add_node(plan)
        .add_node("sub", inner)
        .add_node(answer)
        .add_edge(START, "plan")
        .add_edge("plan", "sub")
        .add_edge("sub", "answer")
        .compile()
    )

    await stream_runnable(graph, {"question": "q"}, None, sink, AdapterOptions(progress=True))

    assert _compact(sink) == [
        ("node", ("start", "plan", 1)),
        ("node", ("end", "plan", 1)),
        ("node", ("start", "sub", 2)),
        ("node", ("end", "sub", 2)),
        ("node", ("start", "answer", 3)),
        "Answer",
        ("node", ("end", "answer", 3)),
    ]


async def test_no_progress_unless_asked(sink: RecordingSink) -> None:
    await stream_runnable(_graph_between_model_calls(), {"question": "hi"}, None, sink)

    assert sink.of("node") == []
