"""Rollouts on a real gateway: ChatOpenAI → the mock provider → gateway → SSE client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request

from tests.telemetry.scrape import families, sample
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.rollout import RolloutPolicy
from tokenwire.routes import RolloutPlan, Route
from tokenwire.security.access import required_roles
from tokenwire.security.principal import Role
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import (
    collect,
    iter_sse,
    mock_record,
    poll_until,
    serve,
    start_stream,
    text_of,
)
from tokenwire.testing.settings import test_settings


def _route(mock_url: str, canary_profile: str, **policy: Any) -> Route:
    stable = Route("chat", demo_model(f"{mock_url}/v1", "tokens=4"))
    canary = demo_model(f"{mock_url}/v1", canary_profile)
    variants = {"canary": canary} if policy.get("variants") else {}
    plan = RolloutPlan.of(stable, RolloutPolicy.model_validate(policy), variants)
    return Route("chat", stable.runnable, rollout=plan)


def _state(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/rollouts/chat")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_failing_canary_at_50_percent_is_rolled_back_by_itself(mock_url: str) -> None:
    route = _route(
        mock_url,
        "fault=500",
        variants=[{"name": "canary", "percent": 50}],
        sticky="none",
        analysis={"min_runs": 5, "max_error_rate": 0.2},
    )
    with serve([route]) as client:
        variants = []
        for _ in range(80):
            start, *_, end = collect(client, "chat", {"input": "hi"})
            variants.append((start.data["variant"], end.data["status"]))
            if _state(client)["state"] == "rolled_back":
                break
        failed = [v for v, status in variants if status == "failed"]
        assert failed and set(failed) == {"canary"}  # only the canary failed, stable never
        view = poll_until(lambda: (s := _state(client))["state"] == "rolled_back" and s)
        canary = next(v for v in view["variants"] if v["name"] == "canary")
        assert canary["percent"] == 0.0 and canary["state"] == "rolled_back"
        decided = canary["decided_by"]
        assert decided["variant"]["runs"] >= 5 and decided["variant"]["error_rate"] == 1.0
        assert decided["breaches"] == [{"metric": "error_rate", "value": 1.0, "threshold": 0.2}]
        later = [collect(client, "chat", {"input": "hi"}) for _ in range(10)]
        assert all(events[-1].data["status"] == "completed" for events in later)
        assert {events[0].data["variant"] for events in later} == {"stable"}
        found = families(client)
        labels = {"route": "chat", "variant": "canary", "to": "rolled_back", "reason": "analysis"}
        assert sample(found, "tokenwire_rollout_transitions_total", **labels) == 1.0


def test_a_healthy_canary_steps_up_to_100_and_is_promoted(mock_url: str) -> None:
    clock = [1_000.0]
    route = _route(
        mock_url,
        "tokens=4",
        variants=[{"name": "canary", "percent": 50}],
        sticky="none",
        steps=[50, 75, 100],
        step_interval_seconds=60,
        analysis={"min_runs": 3, "window_seconds": 600},
    )
    gateway = Gateway([route], test_settings(), rollout_clock=lambda: clock[0])
    with serve(gateway) as client:
        percents = []
        for _ in range(3):
            clock[0] += 60  # a step's interval passes on the rollout's clock
            version = _state(client)["version"]
            while _state(client)["version"] == version:
                assert collect(client, "chat", {"input": "hi"})[-1].data["status"] == "completed"
            canary = next(v for v in _state(client)["variants"] if v["name"] == "canary")
            percents.append((canary["percent"], canary["state"]))
            if canary["state"] == "promoted":
                break
        assert percents == [(75.0, "progressing"), (100.0, "promoted")]
        view = _state(client)
        assert view["state"] == "promoted" and view["variants"][0]["percent"] == 0.0
        runs = [collect(client, "chat", {"input": "hi"})[0].data for _ in range(5)]
        assert {r["variant"] for r in runs} == {"canary"}


def test_the_batch_cohort_gets_the_answer_at_once(mock_url: str, tmp_path: Path) -> None:
    route = _route(mock_url, "tokens=4", streaming_percent=0, sticky="none")
    jsonl = tmp_path / "runs.jsonl"
    with serve([route], telemetry_exporters=["jsonl"], telemetry_jsonl=str(jsonl)) as client:
        events = collect(client, "chat", {"input": "hello there"})
        assert events[0].data["cohort"] == "batch" and events[0].data["variant"] == "stable"
        tokens = [e for e in events if e.event == "token"]
        assert len(tokens) == 1 and text_of(events) == tokens[0].data["text"] != ""
        assert events[-1].event == "run.end" and events[-1].data["status"] == "completed"
        series = 'tokenwire_runs_total{cohort="batch",gen_ai_operation_name="chat",'
        poll_until(lambda: series in client.get("/metrics").text, timeout=10)
    line = poll_until(lambda: jsonl.read_text().strip() if jsonl.exists() else None)
    record = json.loads(line)
    assert (record["cohort"], record["variant"]) == ("batch", "stable")


def test_a_batch_answer_is_not_cut_by_the_first_token_timeout(mock_url: str) -> None:
    # The answer takes ~0.9 s in all and its first token comes at 0.2 s: fine streamed
    # under a 0.5 s first-token timeout; as one batch call it has no first token to wait
    # for, so only total_timeout bounds it.
    model = demo_model(f"{mock_url}/v1", "ttft=200,itl=100,tokens=8")
    stable = Route("chat", model, first_token_timeout=0.5, stall_timeout=0.5)
    policy = RolloutPolicy.model_validate({"streaming_percent": 0, "sticky": "none"})
    plan = RolloutPlan.of(stable, policy, {})
    route = Route("chat", model, first_token_timeout=0.5, stall_timeout=0.5, rollout=plan)
    with serve([route]) as client:
        events = collect(client, "chat", {"input": "one two three four five six seven eight"})
    assert events[0].data["cohort"] == "batch"
    assert [e.data for e in events if e.event == "error"] == []
    assert events[-1].data["status"] == "completed" and text_of(events) != ""


def test_sticky_header_keeps_a_user_in_one_variant(mock_url: str) -> None:
    route = _route(
        mock_url, "tokens=4", variants=[{"name": "canary", "percent": 50}], sticky="header:x-user"
    )
    with serve([route]) as client:
        for user in ("ann", "bob", "cy"):
            seen = set()
            for _ in range(3):
                with start_stream(client, "chat", {"input": "hi"}, **{"x-user": user}) as response:
                    seen.add(next(iter_sse(response)).data["variant"])
            assert len(seen) == 1, (user, seen)


def test_rollout_actions_name_known_things_and_are_audited(mock_url: str) -> None:
    route = _route(mock_url, "tokens=4", variants=[{"name": "canary", "percent": 10}])
    with serve([route]) as client:
        assert client.get("/v1/rollouts").json()["rollouts"][0]["route"] == "chat"
        assert client.get("/v1/rollouts/nope").status_code == 404
        assert client.post("/v1/rollouts/chat/explode").status_code == 404
        assert client.post("/v1/rollouts/chat/pause", params={"variant": "x"}).status_code == 404
        paused = client.post("/v1/rollouts/chat/pause").json()
        assert paused["state"] == "paused" and paused["transitions"][0]["actor"] == "anonymous"
        assert client.post("/v1/rollouts/chat/rollback").json()["state"] == "rolled_back"

        def audited() -> list[dict[str, Any]] | None:
            found = client.get("/v1/audit/records").json()["records"]
            return [r for r in found if r["status"].startswith("rollout.")] or None

        records = poll_until(audited, timeout=10)
        assert [r["status"] for r in records] == ["rollout.paused", "rollout.rolled_back"]


def test_reading_rollouts_is_for_moderators_changing_them_for_admins() -> None:
    assert required_roles("/v1/rollouts") == (Role.MODERATOR,)
    assert required_roles("/v1/rollouts/chat") == (Role.MODERATOR,)
    assert required_roles("/v1/rollouts/chat/rollback") == (Role.ADMIN,)


def test_an_openai_request_to_a_canary_keeps_its_parameters(mock_url: str) -> None:
    route = _route(
        mock_url, "tokens=2", variants=[{"name": "canary", "percent": 100}], sticky="none"
    )
    with serve([route]) as client:
        body = {
            "model": "chat",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.25,
        }
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
    record = mock_record(mock_url, lambda r: r["model"] == "mock@tokens=2")
    assert record["body"]["temperature"] == 0.25  # bound on the canary's model, not stable's


def test_a_transition_is_posted_to_the_alert_webhook(mock_url: str) -> None:
    posted: list[dict[str, Any]] = []
    hook = FastAPI()

    @hook.post("/alerts")
    async def alert(request: Request) -> dict[str, str]:
        posted.append(await request.json())
        return {}

    with BackgroundServer(hook) as receiver:
        route = _route(
            mock_url,
            "tokens=4",
            variants=[{"name": "canary", "percent": 10}],
            alert_webhook=f"{receiver.url}/alerts",
        )
        with serve([route]) as client:
            assert client.post("/v1/rollouts/chat/rollback").status_code == 200
            (alert_body,) = poll_until(lambda: posted or None, timeout=10)
    assert alert_body["event"] == "rollout.transition"
    assert (alert_body["route"], alert_body["variant"], alert_body["to"]) == (
        "chat", "canary", "rolled_back",
    )  # fmt: skip
    assert alert_body["actor"] == "anonymous" and alert_body["reason"] == "manual"


def test_every_cohort_has_its_series_before_any_run(mock_url: str) -> None:
    route = _route(
        mock_url, "tokens=2", variants=[{"name": "canary", "percent": 10}], streaming_percent=90
    )
    with serve([route]) as client:
        found = families(client)
    for cohort in ("stream", "batch", "canary:stream", "canary:batch"):
        runs = sample(found, "tokenwire_runs_total", route="chat", cohort=cohort, status="failed")
        assert runs == 0.0, cohort


def test_users_low_scores_roll_a_canary_back(mock_url: str) -> None:
    route = _route(
        mock_url,
        "tokens=2",
        variants=[{"name": "canary", "percent": 100}],
        analysis={"min_runs": 3, "min_feedback_score": 0.5},
    )
    with serve([route]) as client:
        runs = [collect(client, "chat", {"input": "hi"})[0].data for _ in range(3)]
        assert {r["variant"] for r in runs} == {"canary"}
        for run in runs:
            scored = client.post(f"/v1/runs/{run['run_id']}/feedback", json={"score": 0})
            assert scored.status_code == 202, scored.text
        view = poll_until(lambda: (s := _state(client))["state"] == "rolled_back" and s)
    canary = next(v for v in view["variants"] if v["name"] == "canary")
    breach = canary["decided_by"]["breaches"][0]
    assert (breach["metric"], breach["value"]) == ("feedback_score", 0.0)
