"""The LangServe endpoints, driven by the real ``langserve.RemoteRunnable``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, cast

import httpx
import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage
from langchain_core.runnables import RunnableLambda
from langserve import RemoteRunnable

from tests.protocols.helpers import PROMPTS, native_text
from tests.protocols.hitl import REQUEST, approval_graph
from tokenwire.demo.routes import demo_model, demo_routes
from tokenwire.routes import Route
from tokenwire.testing import mock_record

Serve = Callable[..., httpx.Client]


def remote(client: httpx.Client, route: str) -> RemoteRunnable[Any, Any]:
    return RemoteRunnable(f"{str(client.base_url).rstrip('/')}/langserve/{route}/")


def remote_input(route: str) -> Any:
    if route == "agent":
        return {"messages": [HumanMessage(PROMPTS[route])]}
    return PROMPTS[route]


def text_of(output: Any) -> str:
    return output.text if isinstance(output, AIMessage) else str(output)


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"))


@pytest.mark.parametrize("route", ["chat", "rag", "agent"])
def test_invoke_and_stream_deliver_the_native_text(client: httpx.Client, route: str) -> None:
    runnable = remote(client, route)
    expected = native_text(client, route)
    assert text_of(runnable.invoke(remote_input(route))) == expected
    chunks = list(runnable.stream(remote_input(route)))
    assert len(chunks) > 3
    streamed = chunks[0]
    for chunk in chunks[1:]:
        streamed = streamed + chunk
    assert text_of(streamed) == expected


async def test_async_client_and_batch(client: httpx.Client) -> None:
    runnable = remote(client, "rag")
    expected = native_text(client, "rag")
    assert await runnable.ainvoke(PROMPTS["rag"]) == expected
    assert "".join([c async for c in runnable.astream(PROMPTS["rag"])]) == expected
    assert await runnable.abatch([PROMPTS["rag"], "other words"]) == [
        expected,
        "You said: other words",
    ]
    assert remote(client, "chat").batch(["a b", "c"])[1].content == "You said: c"


def test_a_chat_model_route_returns_messages_with_usage(client: httpx.Client) -> None:
    runnable = remote(client, "chat")
    message = runnable.invoke("hello there")
    assert isinstance(message, AIMessage) and message.content == "You said: hello there"
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 4
    chunks = list(runnable.stream("hello there"))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == "You said: hello there"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] == 4


async def test_stream_events_of_the_agent_show_its_tool_step(client: httpx.Client) -> None:
    events = [e async for e in remote(client, "agent").astream_events(remote_input("agent"))]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "on_chain_start" and kinds[-1] == "on_chain_end"
    start = events[kinds.index("on_tool_start")]
    end = events[kinds.index("on_tool_end")]
    assert start["name"] == end["name"] == "get_order_status"
    assert start["data"]["input"] == {"order_id": "A123"}
    assert end["data"]["output"] == "order A123 is shipped on Monday"
    assert start["run_id"] == end["run_id"] and start["parent_ids"] == [events[0]["run_id"]]
    answer = "".join(
        e["data"]["chunk"].content for e in events if e["event"] == "on_chat_model_stream"
    )
    assert answer == native_text(client, "agent")
    assert kinds.index("on_tool_end") < kinds.index("on_chat_model_start")
    assert events[-1]["data"]["output"] == answer


async def test_stream_events_of_rag_carry_the_documents_and_filters_apply(
    client: httpx.Client,
) -> None:
    runnable = remote(client, "rag")
    events = [e async for e in runnable.astream_events(PROMPTS["rag"])]
    [retrieved] = [e for e in events if e["event"] == "on_retriever_end"]
    documents = retrieved["data"]["output"]
    assert isinstance(documents[0], Document) and documents[0].id == "resume"
    assert documents[0].metadata == {"source": "docs/runs.md", "title": "Resuming a stream"}
    only_models = [
        e async for e in runnable.astream_events(PROMPTS["rag"], include_types=["chat_model"])
    ]
    assert {e["event"] for e in only_models} == {
        "on_chat_model_start",
        "on_chat_model_stream",
        "on_chat_model_end",
    }


def test_schemas(client: httpx.Client) -> None:
    assert client.get("/langserve/rag/input_schema").json()["type"] == "string"
    assert "messages" in str(client.get("/langserve/agent/input_schema").json())
    assert client.get("/langserve/rag/output_schema").json()["type"] == "string"
    assert client.get("/langserve/agent/output_schema").json()["type"] == "string"
    assert "AIMessage" in str(client.get("/langserve/chat/output_schema").json())
    assert client.get("/langserve/chat/config_schema").json()["type"] == "object"
    assert client.get("/langserve/nope/input_schema").status_code == 404


async def _failing(_: Any) -> AsyncIterator[str]:
    yield "partial "
    raise ValueError("secret internal detail")


def test_errors(serve: Serve, mock_url: str) -> None:
    client = serve([*demo_routes(f"{mock_url}/v1"), Route("broken", RunnableLambda(_failing))])
    with pytest.raises(httpx.HTTPStatusError) as missing:
        remote(client, "nope").invoke("x")
    assert missing.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as invalid:
        remote(client, "rag").invoke({"not": "a string"})
    assert invalid.value.response.status_code == 422
    with pytest.raises(httpx.HTTPStatusError) as failed:
        remote(client, "broken").invoke("x")
    assert failed.value.response.status_code == 500
    assert "secret" not in failed.value.response.text
    with pytest.raises(httpx.HTTPStatusError) as mid_stream:
        list(remote(client, "broken").stream("x"))
    assert mid_stream.value.response.status_code == 500
    assert mid_stream.value.response.text == "the runnable raised ValueError"


def test_a_client_that_disconnects_cancels_upstream(serve: Serve, mock_url: str) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))
    client = serve([route], disconnect_grace_seconds=0.05)
    # a generator (closing it hangs up), though Runnable types it an Iterator
    stream = cast("Generator[Any, None, None]", remote(client, "chat").stream("x"))
    for _ in range(5):
        next(stream)
    stream.close()
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200


def test_a_waiting_invoke_that_leaves_cancels_upstream(serve: Serve, mock_url: str) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))
    client = serve([route], disconnect_grace_seconds=0.05)
    with pytest.raises(httpx.TimeoutException):
        runnable: RemoteRunnable[str, Any] = RemoteRunnable(
            f"{str(client.base_url).rstrip('/')}/langserve/chat/", timeout=0.5
        )
        runnable.invoke("x")
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200


async def test_an_interrupted_run_ends_well_and_stream_events_say_why(serve: Serve) -> None:
    client = serve([Route("review", approval_graph())])
    runnable = remote(client, "review")
    graph_input = {"messages": [HumanMessage("mail ada")]}
    # No failure: the output so far (a graph state summarized to its last message's text).
    assert await runnable.ainvoke(graph_input) == "mail ada"
    assert [chunk async for chunk in runnable.astream(graph_input)] == []
    events = [e async for e in runnable.astream_events(graph_input)]
    kinds = [e["event"] for e in events]
    assert (kinds[0], kinds[-1]) == ("on_chain_start", "on_chain_end")
    paused = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["name"] for e in paused] == ["interrupt", "approval.required"]
    interrupt, approval = (cast(dict[str, Any], e["data"]) for e in paused)
    assert interrupt["value"] == REQUEST
    assert (approval["interrupt_id"], approval["args"]) == (
        interrupt["interrupt_id"],
        {"to": "ada"},
    )
    assert all(e["run_id"] == events[0]["run_id"] for e in paused)
