"""Shadow runs: measured and audited as ``shadow``, never on a client stream, no action."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.actions.crm import Crm
from tests.telemetry.scrape import Families, families, sample
from tokenwire.actions import action
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import shadows
from tokenwire.rollout import RolloutPolicy
from tokenwire.routes import RolloutPlan, Route
from tokenwire.testing import collect, mock_record, poll_until, serve


def _ticket_filer(url: str) -> RunnableLambda[Any, str]:
    @action(name="create_ticket")
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/tickets", json={"title": title})
        created: dict[str, Any] = response.json()
        return created

    async def file(value: Any) -> str:
        await create_ticket(str(value))
        return "SHADOW-ANSWER filed"

    return RunnableLambda(file)


def test_shadow_runs_are_measured_never_shown_and_execute_no_action(
    mock_url: str, crm: tuple[Crm, str]
) -> None:
    records, url = crm
    stable = Route("chat", demo_model(f"{mock_url}/v1", "tokens=4"))
    policy = RolloutPolicy.model_validate({"shadow": {"percent": 100}, "sticky": "none"})
    plan = RolloutPlan.of(stable, policy, {}, shadow=_ticket_filer(url))
    with serve([Route("chat", stable.runnable, rollout=plan)]) as client:
        streams = [collect(client, "chat", {"input": f"hi {n}"}) for n in range(3)]

        def measured() -> Families | None:
            # A run is counted after its run.end reaches the client: poll for both cohorts.
            found = families(client)
            counted = [
                sample(found, "tokenwire_runs_total", cohort=cohort, route="chat")
                for cohort in ("shadow", "stream")
            ]
            return found if counted == [3, 3] else None

        found = poll_until(measured, timeout=15)
        assert sample(found, "tokenwire_runs_total", cohort="stream", route="chat") == 3

        def audited() -> list[dict[str, Any]] | None:
            rows = client.get("/v1/audit/records").json()["records"]
            shadows = [r for r in rows if r.get("cohort") == "shadow"]
            return shadows if len(shadows) == 3 else None

        shadows = poll_until(audited, timeout=15)
        for shadow in shadows:
            assert shadow["variant"] == "shadow" and shadow["status"] == "completed"
            assert [a["event"] for a in shadow["actions"]] == ["action.skipped_shadow"]
            # No client can reach a shadow run.
            assert client.get(f"/v1/runs/{shadow['run_id']}").status_code == 404
            assert client.get(f"/v1/runs/{shadow['run_id']}/stream").status_code == 404
    assert records.tickets == []  # the shadow's action never reached the system of record
    for events in streams:
        assert events[0].data["cohort"] == "stream"
        wire = repr([(e.event, e.data) for e in events])
        assert "SHADOW-ANSWER" not in wire and "skipped_shadow" not in wire
        assert events[-1].data["status"] == "completed"


def _shadowed(mock_url: str, **shadow: Any) -> Route:
    stable = Route("chat", demo_model(f"{mock_url}/v1", "tokens=3"))
    spec = {"percent": 100, **shadow}
    policy = RolloutPolicy.model_validate({"shadow": spec, "sticky": "none"})
    plan = RolloutPlan.of(stable, policy, {}, shadow=demo_model(f"{mock_url}/v1", "tokens=5"))
    return Route("chat", stable.runnable, rollout=plan)


def test_an_openai_request_reaches_its_shadow_with_its_parameters(mock_url: str) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.25}
    with serve([_shadowed(mock_url)]) as client:
        response = client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        shadow = mock_record(mock_url, lambda r: r["model"] == "mock@tokens=5")
    assert shadow["body"]["temperature"] == 0.25  # as the primary was asked


def test_a_shadow_that_cannot_start_costs_the_primary_nothing(
    mock_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no log for the shadow")

    monkeypatch.setattr(shadows, "MemoryEventLog", broken)
    with serve([_shadowed(mock_url)]) as client:
        events = collect(client, "chat", {"input": "hi"})
        assert [e.event for e in events].count("run.end") == 1
        assert events[-1].data["status"] == "completed"
        run_id = events[0].data["run_id"]

        def audited() -> list[dict[str, Any]] | None:
            rows = client.get("/v1/audit/records").json()["records"]
            return [r for r in rows if r["run_id"] == run_id] or None

        assert len(poll_until(audited, timeout=10)) == 1  # the primary is audited, once


def test_each_route_has_its_own_bound_on_shadows_in_flight(mock_url: str) -> None:
    # One shadow may be in flight per route: a slow shadow of "a" must not use "b"'s.
    slow = _shadowed(mock_url)
    slow_plan = RolloutPlan.of(
        Route("a", slow.runnable),
        RolloutPolicy.model_validate({"shadow": {"percent": 100, "max_concurrent": 1}}),
        {},
        shadow=demo_model(f"{mock_url}/v1", "ttft=3000,tokens=2"),
    )
    quick_plan = RolloutPlan.of(
        Route("b", slow.runnable),
        RolloutPolicy.model_validate({"shadow": {"percent": 100, "max_concurrent": 1}}),
        {},
        shadow=demo_model(f"{mock_url}/v1", "tokens=6"),
    )
    routes = [
        Route("a", slow.runnable, rollout=slow_plan),
        Route("b", slow.runnable, rollout=quick_plan),
    ]
    with serve(routes) as client:
        collect(client, "a", {"input": "first"})  # its shadow waits 3 s for a first token
        collect(client, "b", {"input": "second"})
        mock_record(mock_url, lambda r: r["model"] == "mock@tokens=6")  # b's shadow ran
