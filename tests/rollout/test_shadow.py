"""Shadow runs: measured and audited as ``shadow``, never on a client stream, no action."""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda

from tests.actions.crm import Crm
from tests.telemetry.scrape import Families, families, sample
from tokenwire.actions import action
from tokenwire.demo.routes import demo_model
from tokenwire.rollout import RolloutPolicy
from tokenwire.routes import RolloutPlan, Route
from tokenwire.testing import collect, poll_until, serve


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
            found = families(client)
            shadow = sample(found, "tokenwire_runs_total", cohort="shadow", route="chat")
            return found if shadow == 3 else None

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
