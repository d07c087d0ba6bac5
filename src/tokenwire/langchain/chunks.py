"""Reading text and reasoning deltas out of message chunks, without building objects.

``content_blocks`` would normalise every chunk into new dicts; on the token path we only
look: string content is the answer text; list content is walked block by block. Reasoning
arrives in several provider shapes, all handled here:

- ``{"type": "reasoning", "reasoning": "..."}`` (LangChain v1 standard blocks),
- ``{"type": "reasoning", "summary": [{"text": "..."}]}`` (OpenAI Responses API),
- ``{"type": "thinking", "thinking": "..."}`` (Anthropic),
- ``additional_kwargs["reasoning_content"]`` (DeepSeek, vLLM, OpenRouter-style servers).

Empty strings are never passed on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["TextCallback", "emit_blocks", "emit_reasoning_kwargs"]

TextCallback = Callable[[str], object]


def emit_blocks(
    blocks: list[Any], token: TextCallback, reasoning: TextCallback, collect: TextCallback
) -> None:
    """Send the text and reasoning deltas of list ``content`` on; ``collect`` keeps the text."""
    for block in blocks:
        if isinstance(block, str):
            if block:
                token(block)
                collect(block)
            continue
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if isinstance(text, str) and text:
                token(text)
                collect(text)
        elif kind == "reasoning":
            _emit_reasoning_block(block, reasoning)
        elif kind == "thinking":
            thinking = block.get("thinking")
            if isinstance(thinking, str) and thinking:
                reasoning(thinking)


def emit_reasoning_kwargs(additional_kwargs: Mapping[str, Any], reasoning: TextCallback) -> None:
    """Send ``additional_kwargs["reasoning_content"]`` on when it is a non-empty string."""
    text = additional_kwargs.get("reasoning_content")
    if isinstance(text, str) and text:
        reasoning(text)


def _emit_reasoning_block(block: Mapping[str, Any], reasoning: TextCallback) -> None:
    text = block.get("reasoning")
    if isinstance(text, str):
        if text:
            reasoning(text)
        return
    summary = block.get("summary")
    if isinstance(summary, list):
        for part in summary:
            if isinstance(part, Mapping):
                piece = part.get("text")
                if isinstance(piece, str) and piece:
                    reasoning(piece)
