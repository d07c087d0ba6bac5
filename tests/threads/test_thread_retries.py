"""A retried attempt on a thread carries on from the checkpoint its input was saved in:
the input is in the thread's state once, not once per attempt."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import httpx
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from tokenwire import RetryPolicy, Route
from tokenwire.testing import ScriptedChatModel, collect, failing_turn, serve, text_turn


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _flaky(request: httpx.Request) -> Exception:
    return httpx.ConnectError("connection refused", request=request)


def test_a_retry_on_a_thread_does_not_send_its_input_twice(tmp_path: Any) -> None:
    error = _flaky(httpx.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    model = ScriptedChatModel(turns=[failing_turn(error), text_turn("answer")])

    async def reply(state: State) -> State:
        return {"log": [str((await model.ainvoke(state["log"][-1])).content)]}

    builder = StateGraph(State)
    builder.add_node("reply", reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    route = Route("g", builder.compile(), retry=RetryPolicy(max_retries=1, base_delay=0))
    with serve([route], data_dir=str(tmp_path)) as client:
        end = collect(client, "g", {"input": {"log": ["hi"]}, "thread_id": "t"})[-1].data
        assert end["status"] == "completed", end
        assert client.get("/v1/threads/t").json()["values"]["log"] == ["hi", "answer"]
