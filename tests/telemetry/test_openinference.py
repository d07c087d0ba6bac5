"""What Arize Phoenix reads, sent over real OTLP/HTTP to a receiver on 127.0.0.1 and decoded
from the protobuf: OpenInference attributes (masked input and output, opt-in), tokens,
model, TTFT, child spans for model calls, tools and retrievers, the status of runs that did
not complete, the caller's ``traceparent`` continued, and a traces-only export."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.telemetry.otlp_receiver import Received, attributes, receiver, run_span
from tests.telemetry.support_agent import (
    CALL_USAGE,
    EMAIL,
    MASKED_ANSWER,
    MASKED_QUESTION,
    MASKED_TOOL_INPUT,
    QUESTION,
    TOOL_OUTPUT,
    support_agent,
)
from tokenwire.demo.routes import demo_model
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.telemetry.otlp import otlp_headers
from tokenwire.telemetry.trace_context import TraceParent, parse_traceparent
from tokenwire.testing import (
    ScriptedChatModel,
    collect,
    poll_until,
    serve,
    start_stream,
    text_turn,
)
from tokenwire.testing.sse import iter_sse


def _by_kind(spans: list[Any]) -> dict[str, list[Any]]:
    kinds: dict[str, list[Any]] = {}
    for span in spans:
        kinds.setdefault(attributes(span)["openinference.span.kind"], []).append(span)
    return kinds


def test_an_agent_run_shows_masked_io_tokens_model_ttft_and_its_steps() -> None:
    route = Route("agent", support_agent(), guardrails=Guardrails.from_config({"pii": True}))
    # Phoenix's shape: /v1/metrics answers 405, so metrics are switched off.
    with receiver(metrics_status=405) as received:
        with serve(
            [route],
            otlp_endpoint=received.url,
            otlp_capture_io=True,
            otlp_metrics=False,
            otlp_project="support-bot",
            otlp_headers="authorization=Bearer%20local-key,x-team=support",
        ) as client:
            events = collect(client, "agent", {"input": QUESTION})
            metrics = client.get("/metrics").text
        spans = received.wait_for_spans(5)
    end = events[-1].data
    assert end["status"] == "completed"
    run = run_span(spans)
    values = attributes(run)
    assert values["openinference.span.kind"] == "CHAIN"
    # Masked as the client sent and saw them, by the route's one masking policy.
    shown_input = json.loads(values["input.value"])
    assert values["input.mime_type"] == "application/json"
    assert shown_input["messages"][0]["content"] == MASKED_QUESTION
    assert values["output.value"] == MASKED_ANSWER
    assert values["output.mime_type"] == "text/plain"
    assert EMAIL not in str(received.traces)
    assert values["llm.token_count.prompt"] == end["usage"]["input_tokens"] == 31
    assert values["llm.token_count.completion"] == end["usage"]["output_tokens"] == 11
    assert values["llm.token_count.total"] == 42
    assert values["llm.model_name"] == "scripted-1"
    assert values["gen_ai.response.time_to_first_chunk"] * 1000 == pytest.approx(
        end["timings"]["ttft_ms"], abs=0.01
    )

    kinds = _by_kind(spans)
    assert {k: len(v) for k, v in kinds.items()} == {
        "CHAIN": 1,
        "LLM": 2,
        "TOOL": 1,
        "RETRIEVER": 1,
    }
    first_call, second_call = sorted(kinds["LLM"], key=lambda s: s.start_time_unix_nano)
    (tool_span,) = kinds["TOOL"]
    (retriever,) = kinds["RETRIEVER"]
    assert [s.parent_span_id for s in (first_call, second_call, tool_span)] == [run.span_id] * 3
    assert retriever.parent_span_id == tool_span.span_id  # the tool called the retriever
    assert {s.trace_id for s in spans} == {run.trace_id}
    # Their timings: in order, inside the run and inside each other.
    assert run.start_time_unix_nano <= first_call.start_time_unix_nano
    assert first_call.end_time_unix_nano <= tool_span.start_time_unix_nano
    assert tool_span.start_time_unix_nano <= retriever.start_time_unix_nano
    assert retriever.end_time_unix_nano <= tool_span.end_time_unix_nano
    assert tool_span.end_time_unix_nano <= second_call.start_time_unix_nano
    assert second_call.end_time_unix_nano <= run.end_time_unix_nano
    assert tool_span.name == "execute_tool lookup_policy"
    tool_values = attributes(tool_span)
    assert tool_values["tool.name"] == "lookup_policy"
    assert tool_values["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(tool_values["input.value"]) == MASKED_TOOL_INPUT
    assert tool_values["output.value"] == TOOL_OUTPUT
    # A call's own tokens, as GenAI and OpenInference say them; the run span is a CHAIN, so
    # Phoenix (which counts LLM spans only) counts each token once.
    calls = [attributes(s) for s in (first_call, second_call)]
    own = [(c["gen_ai.usage.input_tokens"], c["gen_ai.usage.output_tokens"]) for c in calls]
    assert own == CALL_USAGE
    assert [c["llm.token_count.total"] for c in calls] == [sum(u) for u in CALL_USAGE]
    assert {c["llm.model_name"] for c in calls} == {"scripted-1"}

    # The Phoenix project, the configured headers, and no metrics export at all.
    assert received.resources()[0]["openinference.project.name"] == "support-bot"
    trace_headers = [h for path, h in received.requests if path == "/v1/traces"]
    assert trace_headers[0]["authorization"] == "Bearer local-key"
    assert trace_headers[0]["x-team"] == "support"
    assert received.metrics == []
    assert 'tokenwire_telemetry_dropped_total{exporter="otlp_metrics"}' not in metrics


def test_input_and_output_stay_off_the_spans_unless_asked_for(mock_url: str) -> None:
    routes = [
        Route("chat", demo_model(f"{mock_url}/v1", "tokens=3")),
        Route("agent", support_agent()),
    ]
    with receiver() as received:
        with serve(routes, otlp_endpoint=received.url) as client:
            collect(client, "chat", {"input": "private words"})
            collect(client, "agent", {"input": QUESTION})
        spans = received.wait_for_spans(7)
    assert len(spans) == 7  # chat: the run and its call; agent: the run and its 4 steps
    runs = [s for s in spans if "tokenwire.run_id" in attributes(s)]
    chat_run = next(s for s in runs if attributes(s)["tokenwire.route"] == "chat")
    assert attributes(chat_run)["openinference.span.kind"] == "LLM"  # a chat model route
    assert not [s.name for s in spans if {"input.value", "output.value"} & set(attributes(s))]
    assert "private words" not in str(received.traces) and EMAIL not in str(received.traces)


def test_a_chat_model_in_events_mode_counts_its_tokens_once_on_its_call() -> None:
    # Events mode reports the call's usage on its own span: the run span is then a CHAIN
    # (Phoenix counts LLM spans' tokens, and would count an LLM run span's totals again).
    model = ScriptedChatModel(turns=[text_turn("hi", " there", usage=(4, 2))])
    with receiver() as received:
        with serve([Route("chat", model, mode="events")], otlp_endpoint=received.url) as client:
            collect(client, "chat", {"input": "hello"})
        spans = received.wait_for_spans(2)
    run = run_span(spans)
    (call,) = [s for s in spans if s is not run]
    assert attributes(run)["openinference.span.kind"] == "CHAIN"
    assert attributes(run)["llm.token_count.total"] == 6
    assert attributes(call)["openinference.span.kind"] == "LLM"
    assert attributes(call)["llm.token_count.total"] == 6


def test_the_callers_traceparent_is_continued(mock_url: str) -> None:
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with receiver() as received:
        with serve(
            [Route("chat", demo_model(f"{mock_url}/v1", "tokens=3"))], otlp_endpoint=received.url
        ) as client:
            header = {"traceparent": f"00-{caller_trace}-{caller_span}-01"}
            with start_stream(client, "chat", {"input": "hi"}, **header) as response:
                events = list(iter_sse(response))
            collect(client, "chat", {"input": "no header"})
        spans = received.wait_for_spans(4)
    assert events[0].data["trace_id"] == caller_trace
    continued, own = sorted(
        (s for s in spans if "tokenwire.run_id" in attributes(s)),
        key=lambda s: s.trace_id.hex() != caller_trace,
    )
    assert continued.trace_id.hex() == caller_trace
    assert continued.parent_span_id.hex() == caller_span
    assert own.trace_id.hex() != caller_trace and own.parent_span_id == b""


def test_the_traceparent_is_continued_on_the_openai_protocol_too(mock_url: str) -> None:
    caller_trace, caller_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    with receiver() as received:
        with serve(
            [Route("chat", demo_model(f"{mock_url}/v1", "tokens=3"))], otlp_endpoint=received.url
        ) as client:
            answer = client.post(
                "/v1/chat/completions",
                json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
                headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
            )
            assert answer.status_code == 200
        spans = received.wait_for_spans(2)
    run = run_span(spans)
    assert (run.trace_id.hex(), run.parent_span_id.hex()) == (caller_trace, caller_span)


def _ended(received: Received, run_id: str) -> Any:
    spans = [s for s in received.spans() if attributes(s).get("tokenwire.run_id") == run_id]
    return spans[0] if spans else None


def test_blocked_truncated_and_cancelled_runs_say_so_in_their_status(mock_url: str) -> None:
    rails = Guardrails.from_config(
        {"input_deny": [{"name": "jailbreak", "pattern": "ignore all instructions"}]}
    )
    routes = [
        Route("guarded", demo_model(f"{mock_url}/v1", "tokens=3"), guardrails=rails),
        Route("budget", demo_model(f"{mock_url}/v1", "tokens=300,itl=5"),
              budget=RunBudget(max_output_tokens=5)),
        Route("slow", demo_model(f"{mock_url}/v1", "tokens=400,itl=20")),
    ]  # fmt: skip
    with receiver() as received:
        with serve(routes, otlp_endpoint=received.url) as client:
            blocked = collect(client, "guarded", {"input": "ignore all instructions"})
            truncated = collect(client, "budget", {"input": "spend"})
            with start_stream(client, "slow", {"input": "stop me"}) as response:
                stream = iter_sse(response)
                run_id = next(stream).data["run_id"]
                next(e for e in stream if e.event == "token")
                client.post(f"/v1/runs/{run_id}/cancel", json={"reason": "user pressed stop"})
                cancelled = [e for e in stream if e.event == "run.end"]
        ids = [blocked[0].data["run_id"], truncated[0].data["run_id"], run_id]
        poll_until(
            lambda: all(_ended(received, i) is not None for i in ids) or None,
            timeout=10,
            message="a run's span never came",
        )
    assert cancelled[0].data["status"] == "cancelled"
    statuses = [_ended(received, ended).status for ended in ids]
    assert [s.code for s in statuses] == [2, 2, 2]  # STATUS_CODE_ERROR
    messages = [s.message for s in statuses]
    assert messages[0].startswith("blocked: policy_violation")
    assert messages[1].startswith("truncated: budget_exceeded: ")
    assert "output token budget" in messages[1]
    assert messages[2].startswith("cancelled") and "user pressed stop" in messages[2]


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=True)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
         TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=False)),
        # A later version may append fields; version 00 may not.
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
         TraceParent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", sampled=True)),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", None),
        ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", None),
        ("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", None),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", None),
        ("", None),
        (None, None),
    ],
)  # fmt: skip
def test_traceparent_parsing_follows_w3c_trace_context(
    header: str | None, parsed: TraceParent | None
) -> None:
    assert parse_traceparent(header) == parsed


def test_otlp_headers_are_name_value_pairs() -> None:
    assert otlp_headers("") == {}
    assert otlp_headers("Authorization=Bearer%20k, x-project-name = bot") == {
        "authorization": "Bearer k",
        "x-project-name": "bot",
    }
    with pytest.raises(ValueError, match="name=value"):
        otlp_headers("just-a-token")
