"""Tokens mode: ``runnable.astream`` chunks → sink, the cheap path.

For a chat model every chunk is a message: a token costs an ``isinstance``, a sink call
and a list append (the final text is joined once at the end, never by ``+`` per chunk).
Usage comes from the chunks' ``usage_metadata``, summed and reported once.

For anything else run in tokens mode (``prompt | model | StrOutputParser()``), ``str``
chunks and message chunks are tokens, other chunks are only accumulated for the output,
and usage comes from a :class:`~tokenwire.langchain.callbacks.UsageRecorder` on the
config (one call per model call, never per token). Exactly one of the two usage sources
is used per run, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from tokenwire.langchain.callbacks import UsageRecorder, with_handler
from tokenwire.langchain.chunks import TextCallback, emit_blocks, emit_reasoning_kwargs
from tokenwire.langchain.output import Shape, final_output
from tokenwire.langchain.sink import RunSink
from tokenwire.langchain.usage import Usage, message_usage

__all__ = ["aclose", "stream_chat_model", "stream_chunks"]


class _MessageParts:
    """What the message chunks of one stream add up to, kept cheaply."""

    __slots__ = (
        "cached_input_tokens",
        "input_tokens",
        "model",
        "output_tokens",
        "text",
        "tool_calls",
        "tool_chunks",
    )

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_chunks: list[AIMessageChunk] = []
        self.tool_calls: list[Any] = []
        self.input_tokens: int | None = None
        self.output_tokens = 0
        self.cached_input_tokens = 0
        self.model: str | None = None

    def add_rare(self, message: BaseMessage, reasoning: TextCallback, count_usage: bool) -> None:
        """Everything but plain content: reasoning kwargs, tool calls, usage."""
        if message.additional_kwargs:
            emit_reasoning_kwargs(message.additional_kwargs, reasoning)
        if isinstance(message, AIMessageChunk):
            if message.tool_call_chunks:
                self.tool_chunks.append(message)
        elif isinstance(message, AIMessage) and message.tool_calls:
            self.tool_calls.extend(message.tool_calls)
        usage = message_usage(message) if count_usage else None
        if usage is not None:
            self.input_tokens = (self.input_tokens or 0) + usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cached_input_tokens += usage.cached_input_tokens
            self.model = usage.model or self.model

    def usage(self, default_model: str | None) -> Usage | None:
        if self.input_tokens is None:
            return None
        return Usage(
            self.input_tokens,
            self.output_tokens,
            self.model or default_model,
            self.cached_input_tokens,
        )

    def output(self) -> Any:
        text = "".join(self.text)
        tool_calls = list(self.tool_calls)
        if self.tool_chunks:
            merged = self.tool_chunks[0]
            for chunk in self.tool_chunks[1:]:
                merged = merged + chunk
            tool_calls.extend(merged.tool_calls)
        if not tool_calls:
            return text
        return final_output(AIMessage(content=text, tool_calls=tool_calls))


async def stream_chat_model(
    model: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    sink: RunSink,
    model_name: str | None,
) -> Any:
    """Stream a (possibly bound) chat model: the hot path."""
    parts = _MessageParts()
    token = sink.token
    reasoning = sink.reasoning
    collect = parts.text.append
    stream = model.astream(input, config)
    try:
        async for chunk in stream:
            content = chunk.content
            if isinstance(content, str):
                if content:
                    if token(content):
                        await asyncio.sleep(0)  # the first text is visible: send it now
                    collect(content)
            elif content:
                emit_blocks(content, token, reasoning, collect)
            # A full AIMessage (what a model without streaming yields) has no
            # tool_call_chunks: the default True sends it through add_rare.
            if (
                chunk.additional_kwargs
                or chunk.usage_metadata
                or getattr(chunk, "tool_call_chunks", True)
            ):
                parts.add_rare(chunk, reasoning, count_usage=True)
    finally:
        await aclose(stream)
        usage = parts.usage(model_name)
        if usage is not None:
            usage.report(sink)
    return parts.output()


async def stream_chunks(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    sink: RunSink,
    shape: Shape = "auto",
) -> Any:
    """Stream any runnable's chunks: ``str`` and message chunks are tokens."""
    recorder = UsageRecorder()
    pending = recorder.pending
    parts = _MessageParts()
    token = sink.token
    reasoning = sink.reasoning
    texts: list[str] = []
    other: Any = _NOTHING
    kind = ""
    stream = runnable.astream(input, with_handler(config, recorder))
    try:
        async for chunk in stream:
            if isinstance(chunk, str):
                kind = "text"
                if chunk:
                    if token(chunk):
                        await asyncio.sleep(0)  # the first text is visible: send it now
                    texts.append(chunk)
            elif isinstance(chunk, BaseMessage):
                kind = "message"
                content = chunk.content
                if isinstance(content, str):
                    if content:
                        if token(content):
                            await asyncio.sleep(0)  # the first text is visible: send it now
                        parts.text.append(content)
                elif content:
                    emit_blocks(content, token, reasoning, parts.text.append)
                if chunk.additional_kwargs or getattr(chunk, "tool_call_chunks", True):
                    # Usage comes from the recorder here, never from the chunks.
                    parts.add_rare(chunk, reasoning, count_usage=False)
            else:
                kind = "other"
                other = _add(other, chunk)
            if pending:
                _report(recorder, sink)
    finally:
        await aclose(stream)
        _report(recorder, sink)
    if kind == "text":
        return "".join(texts)
    if kind == "message":
        return parts.output()
    return None if other is _NOTHING else final_output(other, shape)


async def aclose(stream: AsyncIterator[Any]) -> None:
    """Close an async iterator now, so the provider's HTTP response is released."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


_NOTHING: Any = object()


def _add(total: Any, chunk: Any) -> Any:
    """``total + chunk`` where the chunk type supports it (as LangChain does), else the chunk."""
    if total is _NOTHING:
        return chunk
    try:
        return total + chunk
    except TypeError:
        return chunk


def _report(recorder: UsageRecorder, sink: RunSink) -> None:
    for usage in recorder.take():
        usage.report(sink)
