"""The in-process model every server streams: one word per chunk, paced by ``asyncio.sleep``.

The request's text says what to stream, so one server process serves every scenario::

    "tokens=2000"                       2,000 words as fast as the loop goes
    "tokens=100 delay=0.02"             a 50-token/s stream (sleep before every word)
    "tokens=10 first=30 delay=0.1"      wait 30 s, then 10 words at 10/s
    "tokens=100000 delay=0.005 tag=17"  on close, append "17 <monotonic>" to $BENCH_CLOSE_LOG
    "tokens=40 email=5"                 token 5 is an e-mail address (is the guard on?)

The close log is how the disconnect scenario sees, from another process, when the model's
generator was closed (``time.monotonic`` is the system-wide CLOCK_MONOTONIC on Linux).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

__all__ = ["WORD", "WordStreamModel", "prompt", "reply"]

#: Five characters of clean text: the PII guard scans it all and finds nothing.
WORD = "word "
CLOSE_LOG_ENV = "BENCH_CLOSE_LOG"
#: ``email=N`` makes token N this address: a probe that the PII guard is really on.
EMAIL = "jane.doe@example.com "


def prompt(tokens: int, delay: float = 0.0, first: float = 0.0, tag: str = "") -> str:
    text = f"tokens={tokens} delay={delay} first={first}"
    return f"{text} tag={tag}" if tag else text


def reply(tokens: int) -> str:
    return WORD * tokens


def _params(messages: list[BaseMessage]) -> dict[str, str]:
    text = str(messages[-1].content) if messages else ""
    return dict(part.split("=", 1) for part in text.split() if "=" in part)


class WordStreamModel(BaseChatModel):
    """A streaming chat model that costs next to nothing, so the server is what's measured."""

    @property
    def _llm_type(self) -> str:
        return "bench-words"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        tokens = int(_params(messages).get("tokens", "1"))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(reply(tokens)))])

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise NotImplementedError("async only")

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        params = _params(messages)
        tokens = int(params.get("tokens", "1"))
        delay = float(params.get("delay", "0"))
        first = float(params.get("first", "0"))
        tag = params.get("tag")
        leak = int(params.get("email", "0"))  # the 1-based token that is an e-mail address
        try:
            if first:
                await asyncio.sleep(first)
            for number in range(1, tokens + 1):
                if delay:
                    await asyncio.sleep(delay)
                text = EMAIL if number == leak else WORD
                yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        finally:
            if tag is not None:
                _log_close(tag)


def _log_close(tag: str) -> None:
    path = os.environ.get(CLOSE_LOG_ENV)
    if path:
        with open(path, "a") as log:
            log.write(f"{tag} {time.monotonic()}\n")
