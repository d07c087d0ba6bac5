"""Cancelling the task running ``stream_runnable`` closes the upstream stream.

The adapter closes the iterator it holds. Where that iterator *is* the model's stream (a
chat model, in either mode) the provider generator is closed before the cancelled task
finishes. Inside a sequence, LangChain passes one step's stream as the next step's input
and never closes inputs: the model's generator is closed by the event loop's async
generator finalizer a few loop iterations later (about a millisecond to the provider
seeing the disconnect, see ``test_openai_mock.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.runnables import Runnable, RunnableGenerator

from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import AdapterOptions, stream_runnable
from tokenwire.testing import ScriptedChatModel


class Upstream:
    """Records whether the provider-side generator was finalised."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.first_token = asyncio.Event()

    async def generate(self) -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.Event().wait()  # a provider that never sends another byte
            yield "never"
        finally:
            self.closed.set()


class HangingChatModel(ScriptedChatModel):
    upstream: Any = None

    async def _astream(
        self, messages: list[BaseMessage], *args: Any, **kwargs: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        async for piece in self.upstream.generate():
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


class SignallingSink(RecordingSink):
    def __init__(self, upstream: Upstream) -> None:
        super().__init__()
        self.upstream = upstream

    def token(self, text: str) -> None:
        super().token(text)
        self.upstream.first_token.set()


def hanging_model(upstream: Upstream) -> HangingChatModel:
    return HangingChatModel(turns=[[]], upstream=upstream)


def hanging_generator(upstream: Upstream) -> Runnable[Any, Any]:
    async def gen(_: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for piece in upstream.generate():
            yield piece

    return RunnableGenerator(gen)


def hanging_chain(upstream: Upstream) -> Runnable[Any, Any]:
    return hanging_model(upstream) | StrOutputParser()


CASES = {
    "tokens-chat-model": (hanging_model, AdapterOptions()),
    "tokens-generator": (hanging_generator, AdapterOptions("tokens")),
    "events-chat-model": (hanging_model, AdapterOptions("events")),
    "events-chain": (hanging_chain, AdapterOptions()),
    "tokens-chain": (hanging_chain, AdapterOptions("tokens")),
}
CLOSED_BEFORE_TASK_ENDS = {"tokens-chat-model", "tokens-generator", "events-chat-model"}


@pytest.mark.parametrize("case", CASES)
async def test_cancel_closes_the_upstream_before_the_task_ends(case: str) -> None:
    build, options = CASES[case]
    upstream = Upstream()
    sink = SignallingSink(upstream)
    task = asyncio.create_task(stream_runnable(build(upstream), "hi", None, sink, options))
    await asyncio.wait_for(upstream.first_token.wait(), 5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    if case in CLOSED_BEFORE_TASK_ENDS:
        assert upstream.closed.is_set()
    await asyncio.wait_for(upstream.closed.wait(), 1)
    assert sink.text == "first"


@pytest.mark.parametrize("case", CASES)
async def test_a_failing_sink_closes_the_upstream(case: str) -> None:
    build, options = CASES[case]
    upstream = Upstream()

    class Full(Exception):
        pass

    class RefusingSink(RecordingSink):
        def token(self, text: str) -> None:
            raise Full

    with pytest.raises(Full):
        await asyncio.wait_for(
            stream_runnable(build(upstream), "hi", None, RefusingSink(), options), 5
        )
    await asyncio.wait_for(upstream.closed.wait(), 1)
