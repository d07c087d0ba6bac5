"""The in-process model every server streams: one word per chunk, paced by ``asyncio.sleep``.

The request's text says what to stream, so one server process serves every scenario::

    "tokens=2000"                       2,000 words as fast as the loop goes
    "tokens=100 delay=0.02"             a 50-token/s stream (sleep before every word)
    "tokens=100 delay=0.02 pace=deadline"  the same, paced like a remote provider (below)
    "tokens=10 first=30 delay=0.1"      wait 30 s, then 10 words at 10/s
    "tokens=100000 delay=0.005 tag=17"  on close, append "17 <monotonic>" to $BENCH_CLOSE_LOG
    "tokens=40 email=5"                 token 5 is an e-mail address (is the guard on?)

Two pacings (``pace=``):

- ``sleep`` (the default): sleep ``delay`` before every word, counted from when the consumer
  took the previous one. The consumer sets the pace: if the event loop wakes the model late,
  that lateness is added to every later word, so over a stream the delays accumulate.
- ``deadline``: word n (1-based) is due ``first + n * delay`` seconds after ``_astream``
  began. Before each word the model sleeps until it is due, or not at all if it is overdue:
  a consumer that comes late finds the overdue words ready and gets them one after another
  without a suspension. That is how a remote provider behaves — it generates at its own
  pace, tokens that arrive while the gateway is busy wait in the socket buffer, and the
  ``openai`` SDK yields them back to back on the next read.

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

__all__ = ["PACES", "WORD", "WordStreamModel", "prompt", "reply"]

#: Five characters of clean text: the PII guard scans it all and finds nothing.
WORD = "word "
CLOSE_LOG_ENV = "BENCH_CLOSE_LOG"
#: ``email=N`` makes token N this address: a probe that the PII guard is really on.
EMAIL = "jane.doe@example.com "


PACES = ("sleep", "deadline")


def prompt(
    tokens: int, delay: float = 0.0, first: float = 0.0, tag: str = "", pace: str = "sleep"
) -> str:
    """The request text for a stream; ``pace`` is ``"sleep"`` (default) or ``"deadline"``."""
    if pace not in PACES:
        raise ValueError(f"pace must be one of {PACES}, not {pace!r}")
    text = f"tokens={tokens} delay={delay} first={first}"
    if tag:
        text += f" tag={tag}"
    return text if pace == "sleep" else f"{text} pace={pace}"


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
        start = time.monotonic()
        params = _params(messages)
        tokens = int(params.get("tokens", "1"))
        delay = float(params.get("delay", "0"))
        first = float(params.get("first", "0"))
        tag = params.get("tag")
        leak = int(params.get("email", "0"))  # the 1-based token that is an e-mail address
        deadline = params.get("pace") == "deadline"
        try:
            if first:
                await _pause(start + first if deadline else None, first)
            for number in range(1, tokens + 1):
                if delay:
                    await _pause(start + first + number * delay if deadline else None, delay)
                text = EMAIL if number == leak else WORD
                yield ChatGenerationChunk(message=AIMessageChunk(content=text))
        finally:
            if tag is not None:
                _log_close(tag)


async def _pause(due: float | None, delay: float) -> None:
    """Sleep ``delay`` (``sleep`` pacing), or until ``due`` if that is still ahead."""
    if due is None:
        await asyncio.sleep(delay)
        return
    left = due - time.monotonic()
    if left > 0:
        await asyncio.sleep(left)


def _log_close(tag: str) -> None:
    path = os.environ.get(CLOSE_LOG_ENV)
    if path:
        with open(path, "a") as log:
            log.write(f"{tag} {time.monotonic()}\n")
