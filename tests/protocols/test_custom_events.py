"""Custom events end to end: a LangGraph graph writing with ``get_stream_writer()`` between
the token streams of a real ``ChatOpenAI`` (on the mock provider), and a chain dispatching
``adispatch_custom_event`` — read by each protocol's real client over a live gateway."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda
from langgraph.config import get_stream_writer
from langgraph.graph import START, MessagesState, StateGraph
from langserve import RemoteRunnable
from websockets.sync.client import connect

from tests.pipeline.test_governed_streams import _audit_record
from tests.pipeline.test_holdback import EMAIL
from tests.protocols.conftest import ReadUIStream
from tokenwire.demo.routes import demo_model
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.routes import Route
from tokenwire.server.config import load_config
from tokenwire.testing import collect

Serve = Callable[..., httpx.Client]
QUESTION = "hi there"
CHECK = "Check the draft"


def _graph(base_url: str, first_write: Any = None) -> Runnable[Any, Any]:
    """One node: write, stream a model call, write, stream another model call."""
    model = demo_model(base_url)

    async def answer(state: MessagesState) -> dict[str, Any]:
        write = get_stream_writer()
        write(first_write or {"stage": "drafting"})
        draft = await model.ainvoke(state["messages"])
        write({"stage": "checking", "chars": len(str(draft.content))})
        checked = await model.ainvoke(CHECK)
        return {"messages": [AIMessage(str(draft.content) + str(checked.content))]}

    graph: Runnable[Any, Any] = (
        StateGraph(MessagesState).add_node(answer).add_edge(START, "answer").compile()
    )
    return graph


def _chain(base_url: str) -> Runnable[Any, Any]:
    async def look_up(question: str) -> str:
        await adispatch_custom_event("looked_up", {"question": question, "hits": 2})
        return question

    async def finish(answer: str) -> str:
        await adispatch_custom_event("checked", {"chars": len(answer)})
        return answer

    chain: Runnable[Any, Any] = (
        RunnableLambda(look_up) | demo_model(base_url) | StrOutputParser() | RunnableLambda(finish)
    )
    return chain


@pytest.fixture
def texts(mock_url: str) -> tuple[str, str]:
    """What the mock answers the two model calls of the graph."""
    model = demo_model(f"{mock_url}/v1")
    return str(model.invoke(QUESTION).content), str(model.invoke(CHECK).content)


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    base_url = f"{mock_url}/v1"
    return serve([Route("graph", _graph(base_url)), Route("chain", _chain(base_url))])


def _graph_sequence(texts: tuple[str, str]) -> list[Any]:
    draft, checked = texts
    return [
        ("custom", None, {"stage": "drafting"}),
        draft,
        ("custom", None, {"stage": "checking", "chars": len(draft)}),
        checked,
    ]


def _chain_sequence(answer: str) -> list[Any]:
    return [
        ("custom", "looked_up", {"question": QUESTION, "hits": 2}),
        answer,
        ("custom", "checked", {"chars": len(answer)}),
    ]


def _sequence(events: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Canonical events as text runs and ``("custom", name, data)``, in order."""
    out: list[Any] = []
    for kind, data in events:
        if kind == "token":
            if out and isinstance(out[-1], str):
                out[-1] += data["text"]
            else:
                out.append(data["text"])
        elif kind == "custom":
            out.append(("custom", data.get("name"), data["data"]))
    return out


def _native(client: httpx.Client, route: str, input: Any) -> list[tuple[str, dict[str, Any]]]:
    events = collect(client, route, {"input": input})
    assert [e.event for e in events].count("run.end") == 1
    assert events[-1].data["status"] == "completed", events[-1].data
    return [(e.event, e.data) for e in events]


def _graph_input() -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": QUESTION}]}


def test_native_sse(client: httpx.Client, texts: tuple[str, str]) -> None:
    assert _sequence(_native(client, "graph", _graph_input())) == _graph_sequence(texts)
    assert _sequence(_native(client, "chain", QUESTION)) == _chain_sequence(texts[0])


def _websocket(client: httpx.Client, route: str, input: Any) -> list[tuple[str, dict[str, Any]]]:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    events: list[tuple[str, dict[str, Any]]] = []
    with connect(url) as socket:
        socket.send(json.dumps({"type": "start", "route": route, "input": input}))
        while not events or events[-1][0] != "run.end":
            message = json.loads(socket.recv(timeout=10))
            if "seq" in message:
                events.append((message["type"], message["data"]))
    return events


def test_websocket(client: httpx.Client, texts: tuple[str, str]) -> None:
    assert _sequence(_websocket(client, "graph", _graph_input())) == _graph_sequence(texts)
    assert _sequence(_websocket(client, "chain", QUESTION)) == _chain_sequence(texts[0])


def _ui_sequence(message: dict[str, Any]) -> list[Any]:
    """A ``useChat`` message's parts as text and ``(type, data)``, in order."""
    out: list[Any] = []
    for part in message["parts"]:
        if part["type"] == "text":
            out.append(part["text"])
        elif part["type"].startswith("data-"):
            out.append((part["type"], part["data"]))
    return out


def test_the_ai_sdk_keeps_data_parts_in_order_with_the_text(
    client: httpx.Client, read_ui_stream: ReadUIStream, texts: tuple[str, str]
) -> None:
    base = f"{str(client.base_url).rstrip('/')}/v1/routes"
    draft, checked = texts
    result = read_ui_stream("send", f"{base}/graph/ui-chat", "c-graph", QUESTION)
    assert result["errors"] == []
    assert _ui_sequence(result["message"]) == [
        ("data-custom", {"stage": "drafting"}),
        draft,
        ("data-custom", {"stage": "checking", "chars": len(draft)}),
        checked,
    ]
    result = read_ui_stream("send", f"{base}/chain/ui-chat", "c-chain", QUESTION)
    assert _ui_sequence(result["message"]) == [
        ("data-looked_up", {"question": QUESTION, "hits": 2}),
        draft,
        ("data-checked", {"chars": len(draft)}),
    ]


async def test_langserve_stream_events(client: httpx.Client, texts: tuple[str, str]) -> None:
    def remote(route: str) -> RemoteRunnable[Any, Any]:
        return RemoteRunnable(f"{str(client.base_url).rstrip('/')}/langserve/{route}/")

    def sequence(events: Sequence[Mapping[str, Any]]) -> list[Any]:
        out: list[Any] = []
        for event in events:
            if event["event"] == "on_chat_model_stream":
                text = event["data"]["chunk"].content
                if out and isinstance(out[-1], str):
                    out[-1] += text
                else:
                    out.append(text)
            elif event["event"] == "on_custom_event":
                name = None if event["name"] == "custom" else event["name"]
                out.append(("custom", name, event["data"]))
        return out

    graph_input = {"messages": [HumanMessage(QUESTION)]}
    events = [e async for e in remote("graph").astream_events(graph_input, version="v2")]
    assert sequence(events) == _graph_sequence(texts)
    assert events[-1]["event"] == "on_chain_end"
    events = [e async for e in remote("chain").astream_events(QUESTION, version="v2")]
    assert sequence(events) == _chain_sequence(texts[0])
    only = [
        e
        async for e in remote("chain").astream_events(
            QUESTION, version="v2", include_names=["checked"]
        )
    ]
    assert [(e["event"], e["name"]) for e in only] == [("on_custom_event", "checked")]


def test_openai_chat_completions_carry_the_text_only(
    client: httpx.Client, texts: tuple[str, str]
) -> None:
    body = {"model": "graph", "messages": [{"role": "user", "content": QUESTION}]}
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as response:
        raw = response.read().decode()
    chunks = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "".join(texts)
    assert "drafting" not in raw and raw.endswith("data: [DONE]\n\n")


def test_pii_in_custom_data_never_leaves_in_clear(
    serve: Serve, mock_url: str, read_ui_stream: ReadUIStream, texts: tuple[str, str]
) -> None:
    leaky = {"note": f"mail {EMAIL}", "phone": 4155550134}
    route = Route(
        "graph",
        _graph(f"{mock_url}/v1", first_write=leaky),
        guardrails=Guardrails(guards=(PiiGuard(),)),
    )
    client = serve([route])
    events = collect(client, "graph", {"input": _graph_input()})
    [first, _] = [e.data for e in events if e.event == "custom"]
    assert first == {"data": {"note": "mail [EMAIL]", "phone": "[PHONE]"}}
    # The guard holds text back: the second write still comes after all of the draft.
    expected = _graph_sequence(texts)
    expected[0] = ("custom", None, first["data"])
    assert _sequence([(e.event, e.data) for e in events]) == expected
    assert EMAIL not in str([e.data for e in events])
    record = _audit_record(client, events[0].data["run_id"])
    assert record["custom_events"][0] == {"seq": 2, "data": first["data"]}
    assert EMAIL not in json.dumps(record)
    api = f"{str(client.base_url).rstrip('/')}/v1/routes/graph/ui-chat"
    message = read_ui_stream("send", api, "c-pii", QUESTION)["message"]
    assert EMAIL not in json.dumps(message)
    assert message["parts"][1] == {"type": "data-custom", "data": first["data"]}


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")


def test_data_that_cannot_be_json_is_reported_and_the_run_completes(
    serve: Serve, mock_url: str, texts: tuple[str, str]
) -> None:
    client = serve([Route("graph", _graph(f"{mock_url}/v1", first_write=Unprintable()))])
    events = _native(client, "graph", _graph_input())
    first = next(data for kind, data in events if kind == "custom")
    assert first == {"data": None, "error": "the data (Unprintable) is not JSON-serialisable"}
    assert events[-1][1]["output"] == "".join(texts)


def test_progress_reports_the_nodes_on_native_and_ai_sdk(
    serve: Serve, mock_url: str, read_ui_stream: ReadUIStream, texts: tuple[str, str]
) -> None:
    client = serve([Route("graph", _graph(f"{mock_url}/v1"), progress=True)])
    events = _native(client, "graph", _graph_input())
    kinds = [kind for kind, _ in events]
    start, end = kinds.index("node.start"), kinds.index("node.end")
    assert events[start][1] == events[end][1] == {"name": "answer", "step": 1}
    assert start < kinds.index("custom") and kinds.index("token") < end < kinds.index("run.end")
    api = f"{str(client.base_url).rstrip('/')}/v1/routes/graph/ui-chat"
    result = read_ui_stream("send", api, "c-progress", QUESTION)
    nodes = [c for c in result["chunks"] if c["type"] == "data-node"]
    assert [n["data"]["phase"] for n in nodes] == ["start", "end"]
    assert all(n["transient"] for n in nodes)
    assert "data-node" not in [p["type"] for p in result["message"]["parts"]]


def test_progress_is_a_route_key_of_tokenwire_toml(tmp_path: Path) -> None:
    (tmp_path / "chains.py").write_text(
        "from langchain_core.runnables import RunnableLambda\nchain = RunnableLambda(str)\n"
    )
    (tmp_path / "tokenwire.toml").write_text(
        '[routes.graph]\ntarget = "chains.py:chain"\nprogress = true\n\n'
        '[routes.quiet]\ntarget = "chains.py:chain"\n'
    )
    graph, quiet = load_config(tmp_path / "tokenwire.toml").routes
    assert graph.progress is True and quiet.progress is False
