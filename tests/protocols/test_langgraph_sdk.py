"""The unmodified ``langgraph-sdk`` client against a live gateway's LangGraph server API.

The graph: ``chat`` (a scripted model answers, and the node streams a custom payload), then
``review`` pauses at ``interrupt()`` and stores the human's answer. A second route ``wait``
blocks until cancelled, for the cancel case. Auth is on: the SDK sends ``x-api-key``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from langchain_core.messages import AnyMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Command, interrupt
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import NotFoundError
from typing_extensions import TypedDict

from tests.pipeline.test_holdback import EMAIL
from tokenwire.langchain.output import to_jsonable
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.testing import ScriptedChatModel, poll_until, serve, text_turn

KEYS = Credentials(keys=[ApiKey("alice", hash_key("sk-alice")), ApiKey("bob", hash_key("sk-bob"))])


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    approved: str


def review_graph(model: ScriptedChatModel) -> Any:
    async def chat(state: State) -> State:
        reply = await model.ainvoke(state["messages"])
        get_stream_writer()({"progress": "answered"})
        return {"messages": [reply]}

    def review(state: State) -> State:
        return {"approved": str(interrupt({"question": "ship it?"}))}

    builder = StateGraph(State)
    builder.add_node("chat", chat)
    builder.add_node("review", review)
    builder.add_edge(START, "chat")
    builder.add_edge("chat", "review")
    builder.add_edge("review", END)
    return builder.compile()


def waiting_graph() -> Any:
    async def wait(state: State) -> State:
        await asyncio.Event().wait()  # until the run is cancelled
        return {}

    builder = StateGraph(State)
    builder.add_node("wait", wait)
    builder.add_edge(START, "wait")
    builder.add_edge("wait", END)
    return builder.compile()


_OPEN: list[SyncLangGraphClient] = []


@pytest.fixture
def gateway_url() -> Iterator[str]:
    model = ScriptedChatModel(turns=[text_turn("Hel", "lo"), text_turn("Again")])
    routes = [Route("agent", review_graph(model)), Route("wait", waiting_graph())]
    with serve(routes, credentials=KEYS, auth="required") as client:
        try:
            yield str(client.base_url)
        finally:
            while _OPEN:
                _OPEN.pop().close()


def sdk(url: str, key: str = "sk-alice") -> Any:
    """The SDK's own sync client (closed when the test's gateway stops); ``Any``: its
    answers are TypedDicts and unions the assertions index freely."""
    client = get_sync_client(url=url, api_key=key)
    _OPEN.append(client)
    return client


class PlainState(typing.TypedDict):
    """``typing.TypedDict``: pydantic builds no schema of it before Python 3.12."""

    n: int


def test_schemas_pydantic_cannot_build_are_null() -> None:
    builder = StateGraph(PlainState)
    builder.add_node("inc", lambda state: {"n": state["n"] + 1})
    builder.add_edge(START, "inc")
    with serve([Route("plain", builder.compile())]) as server:
        client = sdk(str(server.base_url))
        try:
            schemas = client.assistants.get_schemas("plain")
        finally:
            while _OPEN:
                _OPEN.pop().close()
    assert schemas["graph_id"] == "plain"
    if sys.version_info < (3, 12):
        assert schemas["input_schema"] is None and schemas["state_schema"] is None


def test_assistants_are_the_graph_routes(gateway_url: str) -> None:
    client = sdk(gateway_url)
    found = client.assistants.search()
    assert sorted(a["assistant_id"] for a in found) == ["agent", "wait"]
    assistant = client.assistants.get("agent")
    assert assistant["graph_id"] == "agent"
    schemas = client.assistants.get_schemas("agent")
    assert "messages" in schemas["input_schema"]["properties"]
    graph = client.assistants.get_graph("agent")
    assert {node["id"] for node in graph["nodes"]} >= {"chat", "review"}
    with pytest.raises(NotFoundError):
        client.assistants.get("nope")


def test_stream_interrupt_resume_state(gateway_url: str) -> None:
    client = sdk(gateway_url)
    thread = client.threads.create(metadata={"user": "alice"})
    thread_id = thread["thread_id"]
    parts = list(
        client.runs.stream(
            thread_id,
            "agent",
            input={"messages": [{"role": "user", "content": "hi"}]},
            stream_mode=["messages-tuple", "updates", "custom"],
        )
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata" and parts[0].data["run_id"]
    tokens = [p.data[0]["content"] for p in parts if p.event == "messages"]
    assert "".join(tokens) == "Hello"
    assert {p.data[0]["id"] for p in parts if p.event == "messages"} == {
        parts[[p.event for p in parts].index("messages")].data[0]["id"]
    }
    assert {"progress": "answered"} in [p.data for p in parts if p.event == "custom"]
    updates = [p.data for p in parts if p.event == "updates"]
    assert updates[0]["chat"]["messages"][0]["content"] == "Hello"
    assert updates[-1]["__interrupt__"][0]["value"] == {"question": "ship it?"}
    assert all(p.id is not None for p in parts)  # every event resumable

    state = client.threads.get_state(thread_id)
    assert state["next"] == ["review"]
    assert state["interrupts"][0]["value"] == {"question": "ship it?"}
    assert client.threads.get(thread_id)["status"] == "interrupted"

    resumed = list(
        client.runs.stream(
            thread_id, "agent", command={"resume": "yes"}, stream_mode=["updates", "values"]
        )
    )
    assert {"review": {"approved": "yes"}} in [p.data for p in resumed if p.event == "updates"]
    final = [p.data for p in resumed if p.event == "values"][-1]
    assert final["approved"] == "yes"

    state = client.threads.get_state(thread_id)
    assert state["next"] == [] and state["values"]["approved"] == "yes"
    history = client.threads.get_history(thread_id, limit=3)
    assert history[0]["values"]["approved"] == "yes" and len(history) == 3
    assert client.threads.get(thread_id)["metadata"] == {"user": "alice"}


def test_background_run_join_stream(gateway_url: str) -> None:
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    run = client.runs.create(
        thread_id, "agent", input={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert run["thread_id"] == thread_id and run["assistant_id"] == "agent"
    parts = list(client.runs.join_stream(thread_id, run["run_id"], stream_mode=["updates"]))
    assert parts[0].event == "metadata"
    assert "__interrupt__" in [p for part in parts if part.event == "updates" for p in part.data]
    # Rejoining after an event id replays only what followed it.
    after = next(p for p in parts if p.event == "updates").id
    assert after is not None
    rest = list(client.runs.join_stream(thread_id, run["run_id"], last_event_id=after))
    assert rest and all(int(p.id or 0) > int(after) for p in rest)
    assert client.runs.get(thread_id, run["run_id"])["status"] == "interrupted"
    joined = client.runs.join(thread_id, run["run_id"])
    assert joined["__interrupt__"][0]["value"] == {"question": "ship it?"}
    listed = client.runs.list(thread_id)
    assert [r["run_id"] for r in listed] == [run["run_id"]]


def test_cancel_a_run(gateway_url: str) -> None:
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    run = client.runs.create(thread_id, "wait", input={"messages": []})
    poll_until(lambda: client.threads.get(thread_id)["status"] == "busy")
    with pytest.raises(httpx.HTTPStatusError) as busy:  # not under a live run
        client.threads.delete(thread_id)
    assert busy.value.response.status_code == 409
    client.runs.cancel(thread_id, run["run_id"], wait=True)
    assert client.runs.get(thread_id, run["run_id"])["status"] == "interrupted"
    assert client.threads.get(thread_id)["status"] != "busy"


def test_threads_are_their_callers(gateway_url: str) -> None:
    alice, bob = sdk(gateway_url), sdk(gateway_url, "sk-bob")
    thread_id = alice.threads.create(metadata={"k": 1})["thread_id"]
    with pytest.raises(NotFoundError):
        bob.threads.get(thread_id)
    with pytest.raises(NotFoundError):
        bob.runs.create(thread_id, "agent", input={"messages": []})
    assert thread_id in [t["thread_id"] for t in alice.threads.search()]
    assert thread_id not in [t["thread_id"] for t in bob.threads.search()]
    alice.threads.update(thread_id, metadata={"k": 2})
    assert alice.threads.get(thread_id)["metadata"] == {"k": 2}
    alice.threads.delete(thread_id)
    with pytest.raises(NotFoundError):
        alice.threads.get(thread_id)


def test_a_key_is_needed(gateway_url: str) -> None:
    response = httpx.post(f"{gateway_url}/assistants/search", json={})
    assert response.status_code == 401
    with pytest.raises(httpx.HTTPStatusError):
        sdk(gateway_url, "sk-wrong").assistants.search()


def test_update_state_keeps_the_thread_its_owners(gateway_url: str) -> None:
    alice, bob = sdk(gateway_url), sdk(gateway_url, "sk-bob")
    thread_id = alice.threads.create()["thread_id"]
    runs = alice.runs
    runs.wait(thread_id, "agent", input={"messages": [{"role": "user", "content": "hi"}]})
    written = alice.threads.update_state(thread_id, {"approved": "by hand"}, as_node="review")
    assert written["checkpoint"]["checkpoint_id"]
    state = alice.threads.get_state(thread_id)
    assert state["values"]["approved"] == "by hand" and state["next"] == []
    with pytest.raises(NotFoundError):  # the update kept the owner in the checkpoint
        bob.threads.get_state(thread_id)


def test_stateless_runs(gateway_url: str) -> None:
    client = sdk(gateway_url)
    parts = list(
        client.runs.stream(None, "agent", input={"messages": [{"role": "user", "content": "hi"}]})
    )
    # Default mode: values, after every step (the input, chat, the pause).
    assert [p.event for p in parts] == ["metadata", "values", "values", "values"]
    values = parts[-1].data
    assert values["messages"][-1]["content"] == "Hello"
    assert values["__interrupt__"][0]["value"] == {"question": "ship it?"}
    answer = client.runs.wait(None, "agent", input={"messages": []})
    assert answer == "Again"  # a stateless run's answer is its output


def test_wait_and_multitask(gateway_url: str) -> None:
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    first = client.runs.create(thread_id, "wait", input={"messages": []})
    poll_until(lambda: client.threads.get(thread_id)["status"] == "busy")
    with pytest.raises(httpx.HTTPStatusError) as refused:
        client.runs.create(thread_id, "wait", input={"messages": []})
    assert refused.value.response.status_code == 409
    second = client.runs.create(
        thread_id, "wait", input={"messages": []}, multitask_strategy="interrupt"
    )
    assert client.runs.get(thread_id, first["run_id"])["status"] == "interrupted"
    client.runs.cancel(thread_id, second["run_id"], wait=True)
    assert client.runs.get(thread_id, second["run_id"])["status"] == "interrupted"


def test_refusals(gateway_url: str) -> None:
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    with pytest.raises(NotFoundError):
        client.runs.create(thread_id, "nope", input={})
    with pytest.raises(NotFoundError):
        client.runs.create("never-created", "agent", input={})
    with pytest.raises(httpx.HTTPStatusError) as refused:
        client.runs.create(thread_id, "agent", input={}, interrupt_before=["review"])
    assert refused.value.response.status_code == 422
    with pytest.raises(httpx.HTTPStatusError) as refused:
        client.runs.create(thread_id, "agent", input={}, stream_mode="debug")
    assert refused.value.response.status_code == 422
    created = client.runs.create(
        "made-on-the-fly", "agent", input={"messages": []}, if_not_exists="create"
    )
    assert created["thread_id"] == "made-on-the-fly"


def gated_graph(gate: threading.Event) -> Any:
    """Streams ``before``, waits for the test to open ``gate``, streams ``after``."""

    async def work(state: State) -> State:
        writer = get_stream_writer()
        writer("before")
        await asyncio.to_thread(gate.wait, 30)
        writer("after")
        return {"approved": "done"}

    builder = StateGraph(State)
    builder.add_node("work", work)
    builder.add_edge(START, "work")
    builder.add_edge("work", END)
    return builder.compile()


def test_the_sdk_resumes_a_dropped_stream() -> None:
    """Connections last ``max_stream_seconds``: the SDK reconnects to ``Location`` with
    ``Last-Event-ID`` and gets exactly what it had not seen."""
    gate = threading.Event()
    requests: list[httpx.Request] = []
    routes = [Route("gated", gated_graph(gate))]
    with serve(routes, max_stream_seconds=0.3) as server:
        client = sdk(str(server.base_url))
        client.http.client.event_hooks["request"].append(requests.append)

        def open_gate_once_rejoined() -> None:
            poll_until(
                lambda: any(r.method == "GET" and r.url.path.endswith("/stream") for r in requests),
                timeout=20,
            )
            gate.set()

        opener = threading.Thread(target=open_gate_once_rejoined)
        opener.start()
        try:
            thread_id = client.threads.create()["thread_id"]
            parts = list(
                client.runs.stream(
                    thread_id,
                    "gated",
                    input={"messages": []},
                    stream_mode=["custom", "values"],
                    on_disconnect="continue",
                )
            )
        finally:
            gate.set()
            opener.join()
            while _OPEN:
                _OPEN.pop().close()
    assert [p.event for p in parts] == ["metadata", "values", "custom", "custom", "values"]
    assert [p.data for p in parts[2:4]] == ["before", "after"]
    rejoined = [r for r in requests if r.method == "GET" and r.url.path.endswith("/stream")]
    # It rejoined after an event it had (nothing twice, nothing lost: the list above).
    assert rejoined and rejoined[0].headers["last-event-id"] in {p.id for p in parts}


def test_state_leaves_masked_where_the_route_masks_pii() -> None:
    """What nodes write, and the state itself, hold what users said: on a route masking
    PII, ``updates``, ``values`` and the thread's state never carry it in clear."""

    def remember(state: State) -> State:
        return {"approved": f"mail {EMAIL}"}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    route = Route("pii", builder.compile(), guardrails=Guardrails(guards=(PiiGuard(),)))
    with serve([route]) as server:
        client = sdk(str(server.base_url))
        try:
            thread_id = client.threads.create()["thread_id"]
            parts = list(
                client.runs.stream(
                    thread_id, "pii", input={"messages": []}, stream_mode=["updates", "values"]
                )
            )
            state = client.threads.get_state(thread_id)
        finally:
            while _OPEN:
                _OPEN.pop().close()
    assert {"remember": {"approved": "mail [EMAIL]"}} in [p.data for p in parts]
    assert [p.data for p in parts if p.event == "values"] == [
        {"messages": []},
        {"messages": [], "approved": "mail [EMAIL]"},
    ]
    assert state["values"]["approved"] == "mail [EMAIL]"
    assert EMAIL not in repr([p.data for p in parts])


def test_values_after_every_step_as_the_graph_streams_them(gateway_url: str) -> None:
    """``values`` is LangGraph's own ``stream_mode="values"``: the state after every step
    (the input's too), the pause's with ``__interrupt__``; the resume's as well."""
    graph = review_graph(ScriptedChatModel(turns=[text_turn("Hel", "lo")]))
    graph.checkpointer = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "reference"}}
    asked = {"messages": [{"role": "user", "content": "hi"}]}
    expected = asyncio.run(_graph_values(graph, asked, config))
    resumed = asyncio.run(_graph_values(graph, Command(resume="yes"), config))
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    runs = client.runs
    got = [p.data for p in runs.stream(thread_id, "agent", input=asked) if p.event == "values"]
    assert [_without_ids(v) for v in got] == expected and len(expected) == 3
    again = runs.stream(thread_id, "agent", command={"resume": "yes"}, stream_mode="values")
    assert [p.data for p in again if p.event == "values"] == resumed and len(resumed) == 2


def test_only_the_final_values_for_other_modes(gateway_url: str) -> None:
    """A run streamed without ``values`` logs no state per step; a rejoin asking for
    ``values`` gets the state when it stopped."""
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    asked = {"messages": [{"role": "user", "content": "hi"}]}
    parts = list(client.runs.stream(thread_id, "agent", input=asked, stream_mode="updates"))
    run_id = parts[0].data["run_id"]
    rejoined = list(client.runs.join_stream(thread_id, run_id, stream_mode="values"))
    assert [p.event for p in rejoined] == ["metadata", "values"]
    assert rejoined[-1].data["messages"][-1]["content"] == "Hello"


async def _graph_values(graph: Any, input: Any, config: Any) -> list[dict[str, Any]]:
    return [_plain(v) async for v in graph.astream(input, config, stream_mode="values")]


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """LangGraph's values chunk as JSON, its interrupts as the API shows them, no ids."""
    plain = {k: to_jsonable(v) for k, v in values.items() if k != "__interrupt__"}
    if "__interrupt__" in values:
        plain["__interrupt__"] = [{"value": i.value} for i in values["__interrupt__"]]
    return plain


def _without_ids(values: dict[str, Any]) -> dict[str, Any]:
    if "__interrupt__" not in values:
        return values
    return {**values, "__interrupt__": [{"value": i["value"]} for i in values["__interrupt__"]]}


def test_messages_mode_partial_messages(gateway_url: str) -> None:
    """langgraph-api's ``messages`` mode: an answer's metadata, then the answer so far."""
    client = sdk(gateway_url)
    thread_id = client.threads.create()["thread_id"]
    asked = {"messages": [{"role": "user", "content": "hi"}]}
    parts = list(client.runs.stream(thread_id, "agent", input=asked, stream_mode="messages"))
    assert [p.event for p in parts] == [
        "metadata",
        "messages/metadata",
        "messages/partial",
        "messages/partial",
    ]
    (message_id,) = parts[1].data
    assert [p.data[0]["content"] for p in parts[2:]] == ["Hel", "Hello"]
    assert {p.data[0]["id"] for p in parts[2:]} == {message_id}
