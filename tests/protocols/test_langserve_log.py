"""LangServe ``/stream_log`` and ``/playground``, driven by the real ``RemoteRunnable``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.tracers.log_stream import RunLog, RunLogPatch
from langserve import RemoteRunnable

from tests.protocols.helpers import PROMPTS, native_text
from tokenwire.demo.routes import demo_model, demo_routes
from tokenwire.routes import Route
from tokenwire.testing import collect, text_of

Serve = Callable[..., httpx.Client]

pytestmark = pytest.mark.filterwarnings("ignore:astream_log is deprecated")


def remote(client: httpx.Client, route: str) -> RemoteRunnable[Any, Any]:
    return RemoteRunnable(f"{str(client.base_url).rstrip('/')}/langserve/{route}/")


async def patches_of(client: httpx.Client, route: str, input: Any, **filters: Any) -> list[Any]:
    return [patch async for patch in remote(client, route).astream_log(input, **filters)]


def state_of(patches: Sequence[RunLogPatch]) -> dict[str, Any]:
    total: Any = patches[0]
    for patch in patches[1:]:
        total = total + patch
    assert isinstance(total, RunLog)
    return dict(total.state)


def chain_routes(mock_url: str) -> list[Route]:
    model = demo_model(f"{mock_url}/v1", "tokens=12")
    prompt = ChatPromptTemplate.from_template("Answer briefly: {question}")
    return [Route("lcel", prompt | model | StrOutputParser()), Route("model", model)]


async def test_an_lcel_chain_streams_its_text_as_patches(serve: Serve, mock_url: str) -> None:
    client = serve(chain_routes(mock_url))
    body = {"input": {"question": "what is a run?"}}
    expected = native_text_of(client, "lcel", body)
    patches = await patches_of(client, "lcel", {"question": "what is a run?"})
    assert all(isinstance(p, RunLogPatch) for p in patches)
    assert patches[0].ops[0]["op"] == "replace" and patches[0].ops[0]["path"] == ""
    streamed = [op["value"] for p in patches for op in p.ops if op["path"] == "/streamed_output/-"]
    assert len(streamed) == 12 and "".join(streamed) == expected
    state = state_of(patches)
    assert state["final_output"] == expected
    assert state["name"] == "lcel" and state["type"] == "chain"
    assert "".join(state["streamed_output"]) == expected
    (model_log,) = state["logs"].values()
    assert model_log["type"] == "llm" and "".join(model_log["streamed_output_str"]) == expected
    assert all(isinstance(c, AIMessageChunk) for c in model_log["streamed_output"])
    generation = model_log["final_output"].generations[0][0]
    assert generation.message.content == expected and model_log["end_time"] is not None


async def test_a_chat_model_route_streams_message_chunks_with_usage(
    serve: Serve, mock_url: str
) -> None:
    client = serve(chain_routes(mock_url))
    expected = native_text_of(client, "model", {"input": "hello there"})
    patches = await patches_of(client, "model", [HumanMessage("hello there")])
    state = state_of(patches)
    chunks = state["streamed_output"]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == expected and total.usage_metadata["output_tokens"] == 12
    final = state["final_output"]
    assert isinstance(final, AIMessageChunk) and final.content == expected
    assert final.usage_metadata == total.usage_metadata
    assert state["type"] == "llm" and state["logs"] == {}


async def test_agent_tool_steps_and_rag_documents_are_log_entries(
    serve: Serve, mock_url: str
) -> None:
    client = serve(demo_routes(f"{mock_url}/v1"))
    agent = state_of(
        await patches_of(client, "agent", {"messages": [HumanMessage(PROMPTS["agent"])]})
    )
    tools = [log for log in agent["logs"].values() if log["type"] == "tool"]
    assert tools and tools[0]["inputs"] and tools[0]["final_output"]["output"] is not None
    assert "".join(agent["streamed_output"]) == native_text(client, "agent")
    rag = state_of(await patches_of(client, "rag", PROMPTS["rag"]))
    (retriever,) = [log for log in rag["logs"].values() if log["type"] == "retriever"]
    assert retriever["final_output"]["documents"]
    assert rag["final_output"] == native_text(client, "rag")
    only_tools = state_of(
        await patches_of(
            client, "agent", {"messages": [HumanMessage(PROMPTS["agent"])]}, include_types=["tool"]
        )
    )
    assert {log["type"] for log in only_tools["logs"].values()} == {"tool"}


async def test_a_failing_run_raises_in_the_client(serve: Serve, mock_url: str) -> None:
    client = serve([Route("broken", demo_model(f"{mock_url}/v1", "fault=500"))])
    with pytest.raises(httpx.HTTPStatusError):
        await patches_of(client, "broken", "hi")


def test_the_playground_redirects_to_tokenwires(serve: Serve, mock_url: str) -> None:
    client = serve(chain_routes(mock_url), auth="required")  # no key needed for the page
    for path in ("/langserve/lcel/playground", "/langserve/lcel/playground/index.html"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"] == "/ui/?route=lcel"
    assert client.get("/langserve/nope/playground").status_code == 404
    assert client.post("/langserve/lcel/invoke", json={"input": {}}).status_code == 401


def native_text_of(client: httpx.Client, route: str, body: dict[str, Any]) -> str:
    return text_of(collect(client, route, body))
