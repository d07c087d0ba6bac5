"""Token usage as LangChain reports it: on messages, and on a model call's ``LLMResult``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from tokenwire.langchain.sink import RunSink

__all__ = ["Usage", "llm_output_usage", "message_model_name", "message_usage", "result_usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one model call consumed."""

    input_tokens: int
    output_tokens: int
    model: str | None = None
    cached_input_tokens: int = 0

    def report(self, sink: RunSink) -> None:
        sink.usage(self.input_tokens, self.output_tokens, self.model, self.cached_input_tokens)


def message_model_name(message: BaseMessage) -> str | None:
    """The provider's model name from ``response_metadata``, when the provider sets it."""
    metadata = message.response_metadata
    if not metadata:
        return None
    name = metadata.get("model_name") or metadata.get("model")
    return name if isinstance(name, str) else None


def message_usage(message: Any, model: str | None = None) -> Usage | None:
    """``usage_metadata`` of an AI message (chunk), or ``None`` when it has none."""
    if not isinstance(message, AIMessage) or not message.usage_metadata:
        return None
    metadata = message.usage_metadata
    details = metadata.get("input_token_details") or {}
    return Usage(
        metadata.get("input_tokens", 0),
        metadata.get("output_tokens", 0),
        message_model_name(message) or model,
        details.get("cache_read", 0) or 0,
    )


def result_usage(response: LLMResult, model: str | None = None) -> Usage | None:
    """Usage of one model call: summed message ``usage_metadata``, else ``token_usage``."""
    input_tokens = output_tokens = cached = 0
    found = False
    reported: str | None = None
    for generations in response.generations:
        for generation in generations:
            if not isinstance(generation, ChatGeneration):
                continue
            usage = message_usage(generation.message)
            if usage is not None:
                found = True
                input_tokens += usage.input_tokens
                output_tokens += usage.output_tokens
                cached += usage.cached_input_tokens
                reported = usage.model or reported
    if found:
        return Usage(input_tokens, output_tokens, reported or model, cached)
    return llm_output_usage(response.llm_output, model)


def llm_output_usage(llm_output: Any, model: str | None = None) -> Usage | None:
    """Usage from a provider's ``llm_output`` (``token_usage``, OpenAI-style counts)."""
    if not isinstance(llm_output, Mapping):
        return None
    token_usage = llm_output.get("token_usage") or llm_output.get("usage")
    if not isinstance(token_usage, Mapping):
        return None
    input_tokens = token_usage.get("prompt_tokens", token_usage.get("input_tokens"))
    output_tokens = token_usage.get("completion_tokens", token_usage.get("output_tokens"))
    name = llm_output.get("model_name")
    return Usage(_int(input_tokens), _int(output_tokens), name if isinstance(name, str) else model)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
