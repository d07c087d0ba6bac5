"""The protocol encoders as pure functions: mappings no demo route exercises end to end."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tokenwire.events import Event
from tokenwire.protocols.ai_sdk import UIMessageStreamEncoder, messages_from_ui
from tokenwire.protocols.langserve import decode_input
from tokenwire.protocols.langserve_events import EventFilter, StreamEventsEncoder
from tokenwire.protocols.openai import ChatCompletionEncoder, chat_completion
from tokenwire.protocols.openai_responses import ResponsesEncoder, response_object
from tokenwire.protocols.websocket import ProtocolError, parse_message


def run(*events: tuple[str, dict[str, Any]]) -> list[Event]:
    start = ("run.start", {"run_id": "r1", "route": "chat", "trace_id": "t", "model": "m"})
    return [Event(i, kind, data) for i, (kind, data) in enumerate([start, *events], 1)]


def end(status: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("run.end", {"status": status, "output": "", "usage": {}, **extra})


def sse_data(raw: bytes) -> list[Any]:
    lines = raw.decode().split("\n\n")
    return [json.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.parametrize(
    ("status", "reason"),
    [("completed", "stop"), ("truncated", "length"), ("blocked", "content_filter")],
)
def test_openai_finish_reasons(status: str, reason: str) -> None:
    events = run(("token", {"text": "hi"}), end(status))
    chunks = sse_data(ChatCompletionEncoder("r1", "chat").encode(events))
    assert chunks[-1]["choices"][0]["finish_reason"] == reason
    assert chat_completion("r1", "chat", events)[1]["choices"][0]["finish_reason"] == reason


def test_openai_reasoning_is_reasoning_content() -> None:
    events = run(("reasoning", {"text": "hmm"}), ("token", {"text": "hi"}), end("completed"))
    chunks = sse_data(ChatCompletionEncoder("r1", "chat").encode(events))
    assert chunks[1]["choices"][0]["delta"] == {"reasoning_content": "hmm"}
    message = chat_completion("r1", "chat", events)[1]["choices"][0]["message"]
    assert message["reasoning_content"] == "hmm" and message["content"] == "hi"


def test_openai_stops_encoding_after_the_end() -> None:
    encoder = ChatCompletionEncoder("r1", "chat")
    raw = encoder.encode(run(end("completed"), ("token", {"text": "late"})))
    assert encoder.closed and b"late" not in raw and raw.endswith(b"data: [DONE]\n\n")


def test_ai_sdk_text_blocks_split_around_other_parts() -> None:
    events = run(
        ("reasoning", {"text": "think"}),
        ("token", {"text": "a"}),
        ("guardrail", {"action": "redact", "rule": "email", "detail": "1 email"}),
        ("token", {"text": "b"}),
        ("error", {"code": "cancelled", "message": "run cancelled", "retryable": False}),
        end("cancelled"),
    )
    parts = sse_data(UIMessageStreamEncoder().encode(events))
    kinds = [p["type"] for p in parts]
    assert kinds == [
        "start", "start-step",
        "reasoning-start", "reasoning-delta", "reasoning-end",
        "text-start", "text-delta", "text-end",
        "data-guardrail",
        "text-start", "text-delta", "text-end",
        "abort", "finish-step", "finish",
    ]  # fmt: skip
    assert parts[-1]["finishReason"] == "interrupted"
    assert parts[5]["id"] != parts[9]["id"]


def test_ai_sdk_history_is_text() -> None:
    ui = [
        {"role": "user", "parts": [{"type": "text", "text": "a"}, {"type": "file"}]},
        {"role": "assistant", "parts": [{"type": "dynamic-tool"}]},
        {"role": "assistant", "parts": [{"type": "text", "text": "b"}]},
    ]
    assert messages_from_ui(ui) == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]


def test_langserve_messages_become_role_dicts() -> None:
    human: dict[str, Any] = {"type": "human", "content": "hi", "additional_kwargs": {}, "id": None}
    ai = {"type": "ai", "content": "", "tool_calls": [{"name": "f", "args": {"x": 1}, "id": "c"}]}
    decoded = decode_input({"messages": [human, ai], "other": {"type": "x"}})
    assert decoded["messages"][0] == {"role": "user", "content": "hi"}
    assert decoded["messages"][1]["tool_calls"][0]["function"] == {
        "name": "f",
        "arguments": '{"x":1}',
    }
    assert decoded["other"] == {"type": "x"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "start"}',
        '{"type": "cancel"}',
        '{"type": "resume", "run_id": "r", "after": true}',
        "[]",
    ],
)
def test_websocket_rejects_malformed_requests(raw: str) -> None:
    with pytest.raises(ProtocolError):
        parse_message(raw)


CUSTOM_RUN = (
    ("token", {"text": "a"}),
    ("custom", {"name": "weather", "data": {"temp": 21}}),
    ("node.start", {"name": "answer", "step": 2}),
    ("custom", {"data": [1, 2]}),
    ("custom", {"name": "guardrail", "data": "not the gateway's"}),
    ("token", {"text": "b"}),
    ("node.end", {"name": "answer", "step": 2}),
    end("completed"),
)


def test_ai_sdk_custom_events_are_data_parts_between_text_parts() -> None:
    parts = sse_data(UIMessageStreamEncoder().encode(run(*CUSTOM_RUN)))
    kinds = [p["type"] for p in parts]
    assert kinds[2:-2] == [
        "text-start", "text-delta", "text-end",
        "data-weather", "data-node", "data-custom", "data-custom-guardrail",
        "text-start", "text-delta", "text-end", "data-node",
    ]  # fmt: skip
    assert parts[5] == {"type": "data-weather", "data": {"temp": 21}}
    assert parts[6] == {
        "type": "data-node",
        "data": {"phase": "start", "name": "answer", "step": 2},
        "transient": True,
    }
    assert parts[7] == {"type": "data-custom", "data": [1, 2]}
    assert parts[8] == {"type": "data-custom-guardrail", "data": "not the gateway's"}


def test_openai_does_not_carry_custom_events() -> None:
    events = run(*CUSTOM_RUN)
    raw = ChatCompletionEncoder("r1", "chat").encode(events)
    assert b"weather" not in raw and b"answer" not in raw
    assert chat_completion("r1", "chat", events)[1]["choices"][0]["message"]["content"] == "ab"


def test_langserve_stream_events_custom_events_and_nodes() -> None:
    run_id = "0" * 32
    encoder = StreamEventsEncoder(run_id, "graph", "value", {"q": 1})
    events = [
        json.loads(line[6:])
        for line in encoder.encode(run(*CUSTOM_RUN)).decode().split("\n")
        if line.startswith("data: {")
    ]
    shown = [(e["event"], e["name"]) for e in events if e["event"] != "on_chain_stream"]
    assert shown == [
        ("on_chain_start", "graph"),
        ("on_chat_model_start", "m"), ("on_chat_model_stream", "m"), ("on_chat_model_end", "m"),
        ("on_custom_event", "weather"),
        ("on_chain_start", "answer"),
        ("on_custom_event", "custom"),
        ("on_custom_event", "guardrail"),
        ("on_chat_model_start", "m"), ("on_chat_model_stream", "m"), ("on_chat_model_end", "m"),
        ("on_chain_end", "answer"),
        ("on_chain_end", "graph"),
    ]  # fmt: skip
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [e["data"] for e in custom] == [{"temp": 21}, [1, 2], "not the gateway's"]
    root = str(uuid.UUID(run_id))
    assert all(e["run_id"] == root and e["parent_ids"] == [] for e in custom)
    nodes = [e for e in events if e["name"] == "answer"]
    assert nodes[0]["run_id"] == nodes[1]["run_id"] and nodes[0]["parent_ids"] == [root]


def test_langserve_stream_events_filters_custom_events_by_name() -> None:
    only = EventFilter(include_names=["weather"])
    encoder = StreamEventsEncoder("0" * 32, "graph", "value", {}, only)
    raw = encoder.encode(run(*CUSTOM_RUN)).decode()
    assert raw.count("on_custom_event") == 1 and "on_chat_model" not in raw


def test_ai_sdk_approvals_are_tool_approval_requests() -> None:
    interrupt_value = {
        "action_requests": [{"name": "send", "args": {"to": "ada"}}],
        "review_configs": [],
    }
    approval = {
        "call_id": "i-1:0",
        "interrupt_id": "i-1",
        "name": "send",
        "args": {"to": "ada"},
        "description": "",
        "allowed_decisions": ["approve", "reject"],
    }
    events = run(
        ("tool.start", {"call_id": "c-0", "name": "look", "args": {}}),
        ("approval.required", {**approval, "call_id": "c-0"}),  # its input went out already
        ("interrupt", {"interrupt_id": "i-1", "value": interrupt_value}),
        ("approval.required", approval),
        end("interrupted"),
    )
    parts = sse_data(UIMessageStreamEncoder().encode(events))
    assert [p["type"] for p in parts] == [
        "start", "start-step",
        "tool-input-available", "tool-approval-request",
        "tool-input-available", "tool-approval-request",
        "finish-step", "finish",
    ]  # fmt: skip
    assert parts[3] == {"type": "tool-approval-request", "approvalId": "c-0", "toolCallId": "c-0"}
    assert parts[4] == {
        "type": "tool-input-available",
        "toolCallId": "i-1:0",
        "toolName": "send",
        "input": {"to": "ada"},
        "dynamic": True,
    }
    assert parts[-1]["finishReason"] == "tool-calls"
    assert parts[-1]["messageMetadata"]["status"] == "interrupted"


def test_ai_sdk_a_plain_interrupt_is_a_data_part() -> None:
    events = run(
        ("interrupt", {"interrupt_id": "i-2", "value": {"question": "colour?"}}),
        ("custom", {"name": "interrupt", "data": 1}),  # a graph's own cannot pass for it
        end("interrupted"),
    )
    parts = sse_data(UIMessageStreamEncoder().encode(events))
    assert parts[2] == {
        "type": "data-interrupt",
        "data": {"interrupt_id": "i-2", "value": {"question": "colour?"}},
    }
    assert parts[3]["type"] == "data-custom-interrupt"
    assert parts[-1]["finishReason"] == "other"


# -- OpenAI Responses -------------------------------------------------------------------------


def test_responses_a_restart_ends_the_stream_with_an_error() -> None:
    events = run(("token", {"text": "lost "}), ("run.restart", {"reason": "x", "attempt": 2}))
    encoder = ResponsesEncoder("r1", "chat")
    raw = encoder.encode([*events, *run(("token", {"text": "kept"}), end("completed"))])
    sent = [json.loads(frame.split("\ndata: ", 1)[1]) for frame in raw.decode().split("\n\n")[:-1]]
    assert sent[-1]["type"] == "error" and sent[-1]["code"] == "restarted"
    assert encoder.closed


def test_responses_a_non_streaming_answer_holds_the_text_after_a_restart() -> None:
    events = run(
        ("token", {"text": "lost "}),
        ("run.restart", {"reason": "upstream_error", "attempt": 2}),
        ("token", {"text": "kept"}),
        ("usage", {"input_tokens": 3, "output_tokens": 1}),
        end("completed"),
    )
    status, body = response_object("r1", "chat", events)
    assert status == 200 and body["status"] == "completed"
    assert body["output"][0]["content"][0]["text"] == "kept"
    assert body["usage"]["total_tokens"] == 4


def test_responses_an_interrupted_run_completes_with_the_interrupt_field() -> None:
    events = run(("interrupt", {"interrupt_id": "i1", "value": {"q": 1}}), end("interrupted"))
    status, body = response_object("r1", "chat", events)
    assert status == 200 and body["status"] == "completed" and body["output"] == []
    assert body["interrupt"]["interrupts"] == [{"interrupt_id": "i1", "value": {"q": 1}}]


def test_responses_a_cancelled_run_is_an_error_body() -> None:
    status, body = response_object("r1", "chat", run(end("cancelled")))
    assert status == 500 and body["error"]["type"] == "server_error"
