"""The ``continue`` mid-stream policy: ask a fallback to finish a partial answer.

The fallback gets the original conversation, the partial answer as the assistant's turn,
and a short instruction to carry on from its last word; its tokens are appended to what
clients already have. Only chat-model fallbacks and chat-shaped inputs qualify — a chain's
input cannot be rewritten safely — and never after tools ran: a continuation would be
asked to pick up after actions whose results it cannot see (and might repeat them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue

__all__ = ["CONTINUE_INSTRUCTION", "continuation_input"]

CONTINUE_INSTRUCTION = (
    "Your previous answer was cut off. Continue it exactly where it stops, without"
    " repeating any of it and without commenting on the interruption."
)


def continuation_input(input: Any, partial: str) -> list[BaseMessage] | None:
    """Messages asking a chat model to continue ``partial``; ``None`` if ``input`` is not chat."""
    messages = _as_messages(input)
    if messages is None:
        return None
    return [*messages, AIMessage(content=partial), HumanMessage(content=CONTINUE_INSTRUCTION)]


def _as_messages(input: Any) -> list[BaseMessage] | None:
    if isinstance(input, str):
        return [HumanMessage(content=input)]
    if isinstance(input, PromptValue):
        return input.to_messages()
    if isinstance(input, Mapping):
        input = input.get("messages")
    if isinstance(input, Sequence) and not isinstance(input, str) and input:
        try:
            return convert_to_messages(input)
        except (ValueError, TypeError, NotImplementedError):
            return None
    return None
