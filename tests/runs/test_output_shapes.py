"""``Route(output=...)``: what ``run.end.output`` holds for a graph whose state has
messages — the answer's text by default, the whole state, the messages, or the delivered
text — set in Python or in ``tokenwire.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph

from tokenwire import Route
from tokenwire.server.config import load_config
from tokenwire.testing import collect, serve


def _reply(state: MessagesState) -> dict[str, Any]:
    return {"messages": [AIMessage("the answer")]}


def graph() -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("reply", _reply)
    builder.add_edge(START, "reply")
    builder.add_edge("reply", END)
    return builder.compile()


ASKED = {"type": "human", "content": "hi"}
ANSWER = {"type": "ai", "content": "the answer"}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("auto", "the answer"),
        ("state", {"messages": [ASKED, ANSWER]}),
        ("messages", [ASKED, ANSWER]),
        ("text", ""),  # no model streamed: nothing was delivered as text
    ],
)
def test_output_shapes(shape: Any, expected: Any, tmp_path: Path) -> None:
    with serve([Route("g", graph(), output=shape)], data_dir=str(tmp_path)) as client:
        body = {"input": {"messages": [{"role": "user", "content": "hi"}]}}
        end = collect(client, "g", body)[-1].data
    assert end["status"] == "completed"
    output = end["output"]
    if isinstance(output, dict):  # message ids are the graph's own
        output = {"messages": [_plain(m) for m in output["messages"]]}
    elif isinstance(output, list):
        output = [_plain(m) for m in output]
    assert output == expected


def _plain(message: dict[str, Any]) -> dict[str, Any]:
    return {"type": message["type"], "content": message["content"]}


def test_output_and_multitask_from_toml(tmp_path: Path) -> None:
    (tmp_path / "g.py").write_text(
        "from langchain_core.runnables import RunnableLambda\nr = RunnableLambda(str)\n"
    )
    (tmp_path / "tokenwire.toml").write_text(
        '[routes.g]\ntarget = "g.py:r"\noutput = "state"\nmultitask = "enqueue"\n'
    )
    (route,) = load_config(tmp_path / "tokenwire.toml").routes
    assert (route.output, route.multitask) == ("state", "enqueue")
    with pytest.raises(ValueError):
        Route("bad", route.runnable, output="xml")  # type: ignore[arg-type]
