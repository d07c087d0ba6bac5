"""Usage, model and cost of chat models nested in graphs and agents (issue 17).

``ChatOpenAI`` with a custom ``base_url`` leaves ``stream_usage`` unset, so it asks for no
usage when streamed; the gateway only sets up the route's top-level models, and models in
a LangGraph node or a ``create_agent`` agent used to be estimated, unnamed and unpriced.
"""

from __future__ import annotations

import gc
from typing import Any

import httpx
import openai
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import END, START, StateGraph
from pydantic import SecretStr
from typing_extensions import TypedDict

from tokenwire.config import Settings
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect, poll_until
from tokenwire.usage.pricing import PriceTable

MODEL = "mock-agent-model"

# The ChatOpenAI clients this test builds (the reference call on the test's loop, the
# route's on the server's) keep pooled connections to the mock after their loops end; the
# sockets are closed when garbage-collected, in whatever test runs then.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
PRICES = PriceTable({MODEL: {"input": 3.0, "output": 5.0}})


def chat_model(mock_url: str) -> ChatOpenAI:
    model = ChatOpenAI(
        base_url=f"{mock_url}/v1", api_key=SecretStr("k"), model=MODEL, max_retries=0,
        http_async_client=openai.DefaultAsyncHttpxClient(),
    )  # fmt: skip
    assert model.stream_usage is None  # what LangChain leaves for a custom base URL
    return model


class State(TypedDict):
    question: str
    answer: str


def graph_route(mock_url: str) -> Runnable[Any, Any]:
    model = chat_model(mock_url)  # only the node's closure holds it

    async def answer(state: State) -> dict[str, Any]:
        reply = await model.ainvoke([HumanMessage(state["question"])])
        return {"answer": reply.text}

    graph = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile()


@tool
def lookup(city: str) -> str:
    """Look up a city's weather."""
    return f"sunny in {city}"


def agent_route(mock_url: str) -> Runnable[Any, Any]:
    return create_agent(chat_model(mock_url), tools=[lookup])


def _reported(messages: list[AnyMessage]) -> tuple[int, int, int]:
    """What the provider reported: each model call's usage, summed, and the call count."""
    calls = [m.usage_metadata for m in messages if isinstance(m, AIMessage) and m.usage_metadata]
    return (
        sum(u["input_tokens"] for u in calls),
        sum(u["output_tokens"] for u in calls),
        len(calls),
    )


@pytest.mark.parametrize(
    ("build", "body"),
    [
        (graph_route, {"question": "what is the answer"}),
        (agent_route, {"messages": [{"role": "user", "content": "weather in Paris via lookup"}]}),
    ],
    ids=["graph", "agent"],
)
async def test_nested_models_report_exact_usage_model_and_cost(
    mock_url: str, build: Any, body: dict[str, Any]
) -> None:
    # The reference: the same runnable invoked without streaming, where the mock always
    # reports usage (it is deterministic: the same request gets the same reply).
    if "messages" in body:
        state = await build(mock_url).ainvoke(
            {"messages": [HumanMessage(body["messages"][0]["content"])]}
        )
        expected_in, expected_out, calls = _reported(state["messages"])
        assert calls == 2  # the tool call, then the answer
    else:
        reply = await chat_model(mock_url).ainvoke([HumanMessage(body["question"])])
        expected_in, expected_out, calls = _reported([reply])

    gateway = Gateway([Route("nested", build(mock_url))], Settings(auth="none"), prices=PRICES)
    with BackgroundServer(create_app(gateway)) as server, httpx.Client(base_url=server.url) as c:
        events = collect(c, "nested", {"input": body})
        end = events[-1].data
        records = poll_until(lambda: gateway.telemetry.recent.records() or None)
    gc.collect()  # the pooled sockets close here, where the warning is filtered

    assert events[-1].event == "run.end" and end["status"] == "completed", end
    usage = end["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (expected_in, expected_out)
    assert usage["estimated"] is False
    assert usage["cost_usd"] == pytest.approx((expected_in * 3.0 + expected_out * 5.0) / 1e6)
    (record,) = records
    assert record.model == MODEL
    assert end["models"] == [MODEL]  # run.start cannot name a graph's model; run.end does
    # From the model's run metadata (``ls_provider``), not guessed from the name's prefix.
    assert record.provider == "openai"
    assert (record.input_tokens, record.estimated) == (expected_in, False)
