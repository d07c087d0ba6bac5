"""Small scripted LangChain components for the adapter tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForLLMRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool


class ScriptedChatModel(BaseChatModel):
    """Streams pre-written turns: each model call consumes the next list of chunks.

    Unlike ``GenericFakeChatModel`` it keeps ``usage_metadata``, content blocks and
    tool call chunks when streaming, and ``bind_tools`` returns the model itself.
    """

    turns: list[list[AIMessageChunk]]
    model_name: str = "scripted-1"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _next_turn(self) -> list[AIMessageChunk]:
        turn = self.turns[self.calls % len(self.turns)]
        self.calls += 1
        return turn

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        merged = _merge(self._next_turn())
        message = AIMessage(
            content=merged.content,
            additional_kwargs=merged.additional_kwargs,
            tool_calls=merged.tool_calls,
            usage_metadata=merged.usage_metadata,
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._next_turn():
            await asyncio.sleep(0)
            yield ChatGenerationChunk(message=chunk.model_copy())

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:  # type: ignore[override]
        return self


def _merge(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    return merged


def text_turn(
    *pieces: str, usage: tuple[int, int] | None = None, model: str | None = None
) -> list[AIMessageChunk]:
    """One model turn streaming ``pieces``, then (optionally) a usage-only chunk."""
    chunks = [AIMessageChunk(content=piece) for piece in pieces]
    if usage is not None:
        metadata = {"model_name": model} if model else {}
        chunks.append(
            AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": usage[0],
                    "output_tokens": usage[1],
                    "total_tokens": usage[0] + usage[1],
                },
                response_metadata=metadata,
            )
        )
    return chunks


def tool_call_turn(
    name: str, args_json: str, call_id: str, usage: tuple[int, int] | None = None
) -> list[AIMessageChunk]:
    """One model turn that asks for a tool call (streamed as tool call chunks)."""
    chunk = AIMessageChunk(
        content="",
        tool_call_chunks=[{"name": name, "args": args_json, "id": call_id, "index": 0}],
    )
    if usage is not None:
        chunk.usage_metadata = {
            "input_tokens": usage[0],
            "output_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return [chunk]


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
