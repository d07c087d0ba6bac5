"""Small scripted LangChain retrievers and tools for the adapter tests.

The scripted chat model lives in the test kit, :mod:`tokenwire.testing`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool


class ListRetriever(BaseRetriever):
    """Returns the same documents for every query."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.documents)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        return list(self.documents)


class RewritingRetriever(BaseRetriever):
    """Asks a model to rewrite the query first (like a multi-query retriever)."""

    rewriter: BaseChatModel
    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        raise NotImplementedError

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        await self.rewriter.ainvoke(query, {"callbacks": run_manager.get_child()})
        return list(self.documents)


class RecordingTool(BaseTool):
    """A tool whose behaviour is a plain async callable, for agent tests."""

    name: str = "lookup"
    description: str = "Look something up."
    fn: Callable[[str], Any]

    def _run(self, query: str) -> Any:
        raise NotImplementedError

    async def _arun(self, query: str) -> Any:
        result = self.fn(query)
        if asyncio.iscoroutine(result):
            result = await result
        return result
