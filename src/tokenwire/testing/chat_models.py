"""A scripted chat model: a real ``BaseChatModel`` that streams what the test wrote.

Each model call consumes the next *turn* (a list of chunks), cycling when the script runs
out. Unlike langchain-core's ``GenericFakeChatModel`` it keeps ``usage_metadata``, content
blocks and tool call chunks when streaming, ``bind_tools`` returns the model itself (so
agents built with ``create_agent`` accept it), and a turn can fail part-way.

>>> model = ScriptedChatModel(
...     turns=[
...         tool_call_turn("lookup", '{"query": "weather"}', "call-1"),
...         text_turn("It is ", "sunny.", usage=(12, 3)),
...         failing_turn(RuntimeError("provider down"), "half an ans"),
...     ]
... )
>>> [chunk.content async for chunk in model.astream("hi")]   # the first turn: a tool call
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable

__all__ = ["ScriptedChatModel", "Turn", "failing_turn", "text_turn", "tool_call_turn"]

#: One model call's output: chunks streamed in order; an exception raises when reached.
Turn = list[AIMessageChunk | Exception]


class ScriptedChatModel(BaseChatModel):
    """Streams pre-written turns: each model call consumes the next turn of ``turns``.

    ``calls`` counts the model calls made so far.
    """

    # ``Any`` to pydantic: validating the union would try to build an AIMessageChunk
    # out of an exception (and fail) before trying ``Exception``.
    turns: list[list[Any]]
    model_name: str = "scripted-1"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _next_turn(self) -> Turn:
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
        chunks: list[AIMessageChunk] = []
        for item in self._next_turn():
            if isinstance(item, Exception):
                raise item
            chunks.append(item)
        merged = chunks[0] if chunks else AIMessageChunk(content="")
        for chunk in chunks[1:]:
            merged = merged + chunk
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
        for item in self._next_turn():
            # One loop iteration per chunk, as a network stream would give the others.
            await asyncio.sleep(0)
            if isinstance(item, Exception):
                raise item
            yield ChatGenerationChunk(message=item.model_copy())

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, AIMessage]:  # type: ignore[override]
        return self


def _usage(usage: tuple[int, int]) -> UsageMetadata:
    return {
        "input_tokens": usage[0],
        "output_tokens": usage[1],
        "total_tokens": usage[0] + usage[1],
    }


def text_turn(*pieces: str, usage: tuple[int, int] | None = None, model: str | None = None) -> Turn:
    """One turn streaming ``pieces``, then (with ``usage=(input, output)``) a usage chunk
    naming ``model`` in its response metadata."""
    chunks: Turn = [AIMessageChunk(content=piece) for piece in pieces]
    if usage is not None:
        chunks.append(
            AIMessageChunk(
                content="",
                usage_metadata=_usage(usage),
                response_metadata={"model_name": model} if model else {},
            )
        )
    return chunks


def tool_call_turn(
    name: str, args_json: str, call_id: str, usage: tuple[int, int] | None = None
) -> Turn:
    """One turn that asks for a tool call (streamed as one tool call chunk)."""
    chunk = AIMessageChunk(
        content="",
        tool_call_chunks=[{"name": name, "args": args_json, "id": call_id, "index": 0}],
    )
    if usage is not None:
        chunk.usage_metadata = _usage(usage)
    return [chunk]


def failing_turn(error: Exception, *pieces: str) -> Turn:
    """One turn streaming ``pieces`` and then raising ``error`` (a provider failing
    mid-stream; with no pieces, before the first token)."""
    return [*text_turn(*pieces), error]
