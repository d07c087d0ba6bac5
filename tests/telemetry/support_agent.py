"""A real LangChain agent whose run has every kind of step: a model call asking for a tool,
the tool (which calls a retriever), a model call answering with an e-mail address in it."""

from __future__ import annotations

import json
from typing import Any

from langchain.agents import create_agent
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool

from tokenwire.testing import ScriptedChatModel, text_turn, tool_call_turn

EMAIL = "jane.doe@example.com"
ANSWER = f"Write to {EMAIL} today."
MASKED_ANSWER = "Write to [EMAIL] today."
QUESTION = {"messages": [{"role": "user", "content": f"I am {EMAIL}: refunds?"}]}
MASKED_QUESTION = "I am [EMAIL]: refunds?"
#: The tool's arguments and output as its span shows them (masked).
MASKED_TOOL_INPUT = {"query": "refund [EMAIL]"}
TOOL_OUTPUT = "refunds take 5 days ask billing"
#: (input, output) tokens of the two model calls.
CALL_USAGE = [(11, 3), (20, 8)]


class Handbook(BaseRetriever):
    """A real retriever over two documents."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document("refunds take 5 days", id="d1"), Document("ask billing", id="d2")]


@tool
def lookup_policy(query: str) -> str:
    """Look a policy up in the handbook."""
    return " ".join(d.page_content for d in Handbook().invoke(query))


def support_agent() -> Any:
    model = ScriptedChatModel(
        turns=[
            tool_call_turn(
                "lookup_policy", json.dumps({"query": f"refund {EMAIL}"}), "call_1", CALL_USAGE[0]
            ),
            text_turn(*[ANSWER[i : i + 4] for i in range(0, len(ANSWER), 4)], usage=CALL_USAGE[1]),
        ]
    )
    return create_agent(model, [lookup_policy])
