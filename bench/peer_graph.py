"""The graph both LangGraph servers serve in :mod:`bench.langgraph_peer`: one node that
asks ``ChatOpenAI`` (on the mock provider at ``$BENCH_MOCK_URL``) for the answer.

Self-contained (LangGraph and langchain-openai only): ``langgraph dev`` loads a copy of
this file from its own venv; tokenwire imports it as ``bench.peer_graph``.
"""

from __future__ import annotations

import os
from typing import Any

from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph

#: ``graph``: TTFT (a short answer); ``long_graph``: CPU per token (a long one).
SHORT_MODEL = "mock@tokens=20"
LONG_MODEL = "mock@tokens=2000"


def build(model_name: str) -> Any:
    model = ChatOpenAI(
        base_url=os.environ["BENCH_MOCK_URL"] + "/v1",
        api_key="mock",  # type: ignore[arg-type]
        model=model_name,
        stream_usage=True,
    )

    async def chat(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await model.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("chat", chat)
    builder.add_edge(START, "chat")
    return builder.compile()


graph = build(SHORT_MODEL)
long_graph = build(LONG_MODEL)
