"""OpenInference attributes, beside the GenAI ones, so Arize Phoenix reads a run's span.

Names as ``openinference-semantic-conventions`` (0.1.42) spells them
(``SpanAttributes``, ``OpenInferenceSpanKindValues``, ``ResourceAttributes``); the package
is not a dependency, these few strings are all the gateway needs of it.

Tokens: the run span carries the run's totals, as ``llm.token_count.*`` and
``gen_ai.usage.*``; a model call's child span carries its own as ``tokenwire.usage.*``
only. Phoenix sums ``llm.token_count.*`` over a span and its descendants (its "cumulative"
counts, a trace's total) and derives them from ``gen_ai.usage.*`` where a span has no
``llm.token_count.*`` (``phoenix.trace.gen_ai.conversion``, 20.x), so GenAI usage on both
would count every run's tokens twice.
"""

from __future__ import annotations

from typing import Any

from tokenwire import plain_json
from tokenwire.langchain.steps import Step
from tokenwire.telemetry.record import RunRecord

__all__ = ["PROJECT_NAME", "run_attributes", "step_attributes", "step_name"]

SPAN_KIND = "openinference.span.kind"
INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
LLM_MODEL_NAME = "llm.model_name"
LLM_PROVIDER = "llm.provider"
TOKENS_PROMPT = "llm.token_count.prompt"
TOKENS_COMPLETION = "llm.token_count.completion"
TOKENS_TOTAL = "llm.token_count.total"
TOKENS_CACHE_READ = "llm.token_count.prompt_details.cache_read"
TOOL_NAME = "tool.name"
SESSION_ID = "session.id"
#: A resource attribute: the Phoenix project spans land in.
PROJECT_NAME = "openinference.project.name"

_KINDS = {"llm": "LLM", "tool": "TOOL", "retriever": "RETRIEVER"}
_TEXT = "text/plain"
_JSON = "application/json"


def run_attributes(record: RunRecord) -> dict[str, Any]:
    """The run span's OpenInference attributes: a chat model route's run is an ``LLM``
    span, any other route's (chains, agents, graphs) a ``CHAIN`` over its steps."""
    attributes: dict[str, Any] = {
        SPAN_KIND: "LLM" if record.chat_model else "CHAIN",
        TOKENS_PROMPT: record.input_tokens,
        TOKENS_COMPLETION: record.output_tokens,
        TOKENS_TOTAL: record.input_tokens + record.output_tokens,
        LLM_PROVIDER: record.provider,
    }
    if record.cached_input_tokens:
        attributes[TOKENS_CACHE_READ] = record.cached_input_tokens
    if record.model:
        attributes[LLM_MODEL_NAME] = record.model
    if record.shown_input is not None:
        attributes[INPUT_VALUE], attributes[INPUT_MIME_TYPE] = _value(record.shown_input)
    if record.shown_output is not None:
        attributes[OUTPUT_VALUE], attributes[OUTPUT_MIME_TYPE] = _value(record.shown_output)
    return attributes


def step_attributes(step: Step, provider: str) -> dict[str, Any]:
    """A child span's attributes, GenAI and OpenInference: a model call, tool or retriever."""
    attributes: dict[str, Any] = {SPAN_KIND: _KINDS[step.kind]}
    if step.kind == "llm":
        attributes["gen_ai.operation.name"] = "chat"
        attributes["gen_ai.provider.name"] = provider
        if step.model:
            attributes["gen_ai.request.model"] = attributes[LLM_MODEL_NAME] = step.model
        if step.input_tokens is not None:
            attributes["tokenwire.usage.input_tokens"] = step.input_tokens
        if step.output_tokens is not None:
            attributes["tokenwire.usage.output_tokens"] = step.output_tokens
    elif step.kind == "tool":
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = attributes[TOOL_NAME] = step.name
    else:
        attributes["gen_ai.operation.name"] = "retrieval"
    if step.error is not None:
        attributes["error.type"] = step.error
    return attributes


def step_name(step: Step) -> str:
    """GenAI span names: ``{operation} {target}``."""
    if step.kind == "llm":
        return f"chat {step.model or step.name}"
    if step.kind == "tool":
        return f"execute_tool {step.name}"
    return f"retrieval {step.name}"


def _value(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        return value, _TEXT
    return plain_json.dumps(value).decode(), _JSON
