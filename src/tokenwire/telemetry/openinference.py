"""OpenInference attributes, beside the GenAI ones, so Arize Phoenix reads a run's span.

Names as ``openinference-semantic-conventions`` (0.1.42) spells them
(``SpanAttributes``, ``OpenInferenceSpanKindValues``, ``ResourceAttributes``); the package
is not a dependency, these few strings are all the gateway needs of it.

Tokens: the run span carries the run's totals and each model call's span its own, as
``llm.token_count.*`` and ``gen_ai.usage.*``. Phoenix (20.x) counts tokens on ``LLM`` spans
only and sums them over a span's descendants (a trace's total), deriving
``llm.token_count.*`` from ``gen_ai.usage.*`` where a span lacks them. So the run span is
``LLM`` only when it is the one model answer and no child span reports a call's usage
(a chat model route, in tokens mode); otherwise it is a ``CHAIN`` and its totals are shown,
not counted again.
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
        SPAN_KIND: "LLM" if record.chat_model and not _calls_counted(record) else "CHAIN",
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
        if step.input_tokens is not None and step.output_tokens is not None:
            attributes["gen_ai.usage.input_tokens"] = step.input_tokens
            attributes["gen_ai.usage.output_tokens"] = step.output_tokens
            attributes[TOKENS_PROMPT] = step.input_tokens
            attributes[TOKENS_COMPLETION] = step.output_tokens
            attributes[TOKENS_TOTAL] = step.input_tokens + step.output_tokens
    elif step.kind == "tool":
        attributes["gen_ai.operation.name"] = "execute_tool"
        attributes["gen_ai.tool.name"] = attributes[TOOL_NAME] = step.name
        if step.call_id is not None:
            attributes["gen_ai.tool.call.id"] = step.call_id
        if step.input is not None:
            attributes[INPUT_VALUE], attributes[INPUT_MIME_TYPE] = _value(step.input)
        if step.output is not None:
            attributes[OUTPUT_VALUE], attributes[OUTPUT_MIME_TYPE] = _value(step.output)
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


def _calls_counted(record: RunRecord) -> bool:
    """Whether a model call's span reports its usage (so Phoenix counts it there)."""
    return any(step.kind == "llm" and step.input_tokens is not None for step in record.steps)


def _value(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        return value, _TEXT
    return plain_json.dumps(value).decode(), _JSON
