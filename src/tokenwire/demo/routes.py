"""The three demo routes — ``chat``, ``rag`` and ``agent`` — all on the mock provider.

The mock's model (``mock``, ``mock@<profile>``) is in no price list: the demo prices it
(:data:`DEMO_PRICES`, at ``gpt-4o-mini``'s list price) so that cost shows in the playground,
the dashboard and the metrics, as it would on a real provider. It still says ``mock``
everywhere: a made-up model name would mislead.
"""

from __future__ import annotations

from typing import Any

import openai
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tokenwire.audit.trail import audit_from_settings
from tokenwire.config import Settings
from tokenwire.demo.documents import KeywordRetriever
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.usage.pricing import BUNDLED_PRICES, Price, PriceTable

__all__ = ["DEMO_PRICES", "ORDERS", "demo_gateway", "demo_routes", "get_order_status"]

#: The mock model's price (USD per million tokens): a small model's, so the demo's cost is
#: realistic. A name matches the longest key it starts with, so ``mock@…`` too.
DEMO_PRICES: dict[str, Price] = {"mock": BUNDLED_PRICES["gpt-4o-mini"]}

ORDERS = {"A123": "shipped on Monday", "B456": "waiting for payment"}


@tool
def get_order_status(order_id: str) -> str:
    """Look up the shipping status of an order by its id."""
    status = ORDERS.get(order_id.strip().upper())
    return f"order {order_id} is {status}" if status else f"order {order_id} was not found"


def demo_model(base_url: str, profile: str = "", http_async_client: Any = None) -> ChatOpenAI:
    """``ChatOpenAI`` on the mock provider; ``profile`` is the mock's latency/fault settings."""
    return ChatOpenAI(
        base_url=base_url,
        api_key=SecretStr("mock-key"),
        model=f"mock@{profile}" if profile else "mock",
        stream_usage=True,
        # Its asyncio.wait_for per chunk can lose a cancellation on Python 3.11; the
        # gateway has its own stall timeout (see tokenwire.langchain.model_setup).
        stream_chunk_timeout=None,
        max_retries=0,
        # A client of its own: langchain-openai otherwise shares one per base URL across
        # the process, which breaks when several event loops (gateways in tests) use it.
        http_async_client=http_async_client or openai.DefaultAsyncHttpxClient(),
    )


def _format(docs: list[Document]) -> str:
    return "\n".join(f"[{d.id}] {d.page_content}" for d in docs)


def demo_routes(base_url: str, profile: str = "") -> list[Route]:
    """``base_url`` is the mock provider's OpenAI base URL (ending in ``/v1``)."""
    model = demo_model(base_url, profile)
    prompt = ChatPromptTemplate.from_messages(
        [("system", "Answer from this context:\n{context}"), ("user", "{question}")]
    )
    rag: Any = (
        {"context": KeywordRetriever() | _format, "question": RunnablePassthrough()}
        | prompt
        | model
        | StrOutputParser()
    )
    return [
        Route("chat", model, description="A chat model, token by token."),
        Route("rag", rag, description="Citations first, then the answer."),
        Route("agent", _agent(model), description="A tool-calling agent whose steps stream."),
    ]


def demo_gateway(base_url: str, profile: str = "", settings: Settings | None = None) -> Gateway:
    """A gateway serving :func:`demo_routes`, the mock priced (:data:`DEMO_PRICES`), with
    the audit trail ``settings`` ask for."""
    settings = settings or Settings()
    prices = PriceTable(DEMO_PRICES)
    routes = demo_routes(base_url, profile)
    return Gateway(routes, settings, prices=prices, audit=audit_from_settings(settings))


def _agent(model: ChatOpenAI) -> Any:
    from langchain.agents import create_agent

    return create_agent(model, [get_order_status])
