"""LangSmith traces of gateway runs, as the real ``langsmith`` client sends them to an
endpoint on 127.0.0.1: named after the route, with the gateway's ids in the metadata, no
raw PII, and the gateway's first-token time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.telemetry.record import RunRecord
from tokenwire.testing import ScriptedChatModel, collect, poll_until, text_of, text_turn

from .langsmith_endpoint import PROJECT_ID, LangSmithEndpoint, langsmith_endpoint

EMAIL, PHONE = "jane.doe@example.com", "+14155550134"
ANSWER = f"Write to {EMAIL} or call {PHONE}."
MASKED = "Write to [EMAIL] or call [PHONE]."


@pytest.fixture
def langsmith(monkeypatch: pytest.MonkeyPatch) -> Iterator[LangSmithEndpoint]:
    with langsmith_endpoint(monkeypatch) as endpoint:
        yield endpoint


def _record(gateway: Gateway, run_id: str) -> RunRecord:
    def probe() -> RunRecord | None:
        return next((r for r in gateway.telemetry.recent.records() if r.run_id == run_id), None)

    return poll_until(probe, timeout=10)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _ended_model_runs(langsmith: LangSmithEndpoint) -> list[dict[str, Any]] | None:
    runs = [r for r in langsmith.runs().values() if r.get("run_type") == "llm"]
    return runs if runs and all(r.get("end_time") for r in runs) else None


def _first_token(run: dict[str, Any]) -> datetime:
    [event] = [e for e in run.get("events") or [] if e["name"] == "new_token"]
    return _time(event["time"])


def test_a_masked_route_traces_no_raw_pii_with_the_gateways_ids(
    langsmith: LangSmithEndpoint, tmp_path: Any
) -> None:
    model = ScriptedChatModel(
        turns=[text_turn(*[ANSWER[i : i + 4] for i in range(0, len(ANSWER), 4)])]
    )
    route = Route("support", model, guardrails=Guardrails.from_config({"pii": True}))
    credentials = Credentials([ApiKey("web-team", hash_key("sk-web"))])
    settings = Settings(data_dir=str(tmp_path))
    gateway = Gateway([route], settings, credentials=credentials)
    headers = {"Authorization": "Bearer sk-web"}
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
    ):
        body = {"input": f"I am {EMAIL}", "metadata": {"key_alias": "spoofed", "phone": PHONE}}
        events = collect(client, "support", body)
        start = events[0].data
        record = _record(gateway, start["run_id"])
    # The gateway has stopped: the route's client has flushed what it held.
    seen = text_of(events)
    assert seen == MASKED
    root = langsmith.wait_for_run(str(UUID(hex=start["run_id"])))
    assert root["name"] == "support"
    metadata = root["extra"]["metadata"]
    assert {k: metadata[k] for k in ("trace_id", "route", "key_alias", "cohort")} == {
        "trace_id": start["trace_id"],
        "route": "support",
        "key_alias": "web-team",
        "cohort": "stream",
    }
    assert metadata["tokenwire_run_id"] == start["run_id"]
    # The answer as the client saw it, and the input masked the same way.
    assert seen in json.dumps(root["outputs"]) and "I am [EMAIL]" in json.dumps(root["inputs"])
    everything = b"".join(langsmith.bodies).decode(errors="replace")
    assert EMAIL not in everything and PHONE not in everything and "4155550134" not in everything
    assert record.ttft_s is not None
    assert _first_token(root) - _time(root["start_time"]) == timedelta(seconds=record.ttft_s)


def test_first_token_time_is_the_first_visible_token_not_the_role_chunk(
    langsmith: LangSmithEndpoint, mock_url: str, tmp_path: Any
) -> None:
    """The mock provider sends OpenAI's empty role chunk at once and the first word after
    100 ms: LangSmith's first token is the word's, on the model's run and on the root run
    (where it is the gateway's TTFT, from when the request was received)."""
    model = demo_model(f"{mock_url}/v1", "ttft=100,itl=1,tokens=5")
    chain: Any = RunnableLambda(lambda text: [("user", text)], name="messages") | model
    gateway = Gateway([Route("chat", chain)], Settings(auth="none", data_dir=str(tmp_path)))
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        events = collect(client, "chat", {"input": "time me"})
        run_id = events[0].data["run_id"]
        record = _record(gateway, run_id)
        root = langsmith.wait_for_run(str(UUID(hex=run_id)))
        [llm] = poll_until(lambda: _ended_model_runs(langsmith), timeout=20)
    assert root["name"] == "chat" and llm["parent_run_id"] == root["id"]
    assert record.ttft_s is not None and record.ttft_s >= 0.1
    # The root run: exactly the gateway's TTFT, counted from the same instant.
    assert _first_token(root) - _time(root["start_time"]) == timedelta(seconds=record.ttft_s)
    # The model's run: its first text came after the mock's 100 ms, the role chunk did not.
    assert _first_token(llm) - _time(llm["start_time"]) >= timedelta(milliseconds=100)
    assert _first_token(llm) <= _first_token(root)


def test_a_clients_run_name_wins_but_not_its_identity_metadata(
    langsmith: LangSmithEndpoint, tmp_path: Any
) -> None:
    model = ScriptedChatModel(turns=[text_turn("Hi")])
    gateway = Gateway([Route("chat", model)], Settings(auth="none", data_dir=str(tmp_path)))
    spoofed = {"key_alias": "finance", "route": "other", "trace_id": "0" * 32}
    body = {"input": "hi", "config": {"run_name": "my-experiment", "metadata": spoofed}}
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        start = collect(client, "chat", body)[0].data
        record = _record(gateway, start["run_id"])
        root = langsmith.wait_for_run(str(UUID(hex=start["run_id"])))
    assert root["name"] == "my-experiment"
    metadata = root["extra"]["metadata"]
    assert (metadata["key_alias"], metadata["route"], metadata["trace_id"]) == (
        record.key_alias,
        "chat",
        start["trace_id"],
    )


def test_a_users_score_is_langsmith_feedback_on_the_runs_trace(
    langsmith: LangSmithEndpoint, tmp_path: Any
) -> None:
    """What the gateway's tracer sent as the run's root is what the feedback names: its
    trace, in the project the trace went to; a masked route's comment leaves masked."""
    routes = [
        Route("chat", ScriptedChatModel(turns=[text_turn("Hi")])),
        Route(
            "support",
            ScriptedChatModel(turns=[text_turn("Sure")]),
            guardrails=Guardrails.from_config({"pii": True}),
        ),
    ]
    credentials = Credentials([ApiKey("web-team", hash_key("sk-web"))])
    gateway = Gateway(routes, Settings(data_dir=str(tmp_path)), credentials=credentials)
    headers = {"Authorization": "Bearer sk-web"}
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
    ):
        chat = collect(client, "chat", {"input": "hi"})[0].data["run_id"]
        support = collect(client, "support", {"input": "help"})[0].data["run_id"]
        for run_id, comment in ((chat, "spot on"), (support, f"mail {EMAIL}")):
            body = {"score": 0.75, "comment": comment}
            assert client.post(f"/v1/runs/{run_id}/feedback", json=body).status_code == 202
        root = langsmith.wait_for_run(str(UUID(hex=chat)))
        sent = poll_until(lambda: langsmith.feedback if len(langsmith.feedback) == 2 else None)
    by_trace = {UUID(f["trace_id"]).hex: f for f in sent}
    assert set(by_trace) == {chat, support}
    feedback = by_trace[chat]
    assert UUID(feedback["run_id"]) == UUID(root["id"]) == UUID(feedback["trace_id"])
    assert (feedback["key"], feedback["score"], feedback["comment"]) == (
        "user_score",
        0.75,
        "spot on",
    )
    assert UUID(feedback["session_id"]) == UUID(PROJECT_ID)
    source = feedback["feedback_source"]["metadata"]
    assert source == {"route": "chat", "cohort": "stream", "key_alias": "web-team"}
    assert by_trace[support]["comment"] == "mail [EMAIL]"
    assert EMAIL not in b"".join(langsmith.bodies).decode(errors="replace")
