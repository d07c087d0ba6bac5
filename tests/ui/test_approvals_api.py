"""``GET /v1/moderation/approvals``: the runs paused for a human, for moderators to decide."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.ui.test_approvals import graph_routes
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.testing import collect, poll_until, serve

KEYS = Credentials(
    [
        ApiKey.from_config({"alias": "alice", "key": "k-alice"}),
        ApiKey.from_config({"alias": "mod", "key": "k-mod", "roles": ["moderator"]}),
    ]
)
ALICE = {"Authorization": "Bearer k-alice"}
MOD = {"Authorization": "Bearer k-mod"}


def test_graph_routes_are_listed_as_running_on_threads(tmp_path: Path) -> None:
    with serve(graph_routes(), data_dir=str(tmp_path)) as client:
        routes = client.get("/v1/routes").json()["routes"]
        assert {r["name"]: r["threads"] for r in routes} == {"review": True, "ask": True}


def test_only_runs_still_waiting_for_a_decision_are_listed(tmp_path: Path) -> None:
    with serve(graph_routes(), data_dir=str(tmp_path)) as client:
        collect(client, "review", {"input": {}, "thread_id": "t-old"})
        collect(client, "ask", {"input": {}, "thread_id": "t-plain"})  # no HITL request
        collect(client, "review", {"input": {}})  # paused, but on no thread to resume
        events = collect(client, "review", {"input": {}, "thread_id": "t-new"})
        waiting = client.get("/v1/moderation/approvals").json()["runs"]
        assert [r["thread_id"] for r in waiting] == ["t-new", "t-old"]  # newest first
        newest = waiting[0]
        assert newest["run_id"] == events[0].data["run_id"]
        assert newest["status"] == "interrupted"
        assert newest["route"] == "review"
        (call,) = newest["approvals"]
        assert call["name"] == "send_email"
        assert call["args"] == {"to": "ops"}
        assert call["allowed_decisions"] == ["approve", "edit", "reject"]

        decisions = {"decisions": [{"call_id": call["call_id"], "type": "approve"}]}
        with client.stream(
            "POST",
            "/v1/threads/t-new/approvals",
            json=decisions,
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            response.read()
        # The resumed run is the thread's newest: its approvals are no longer open.
        waiting = client.get("/v1/moderation/approvals").json()["runs"]
        assert [r["thread_id"] for r in waiting] == ["t-old"]
        assert client.get("/v1/moderation/approvals?limit=0").status_code == 422


def test_moderators_list_and_decide_anyones_approvals_clients_may_not(tmp_path: Path) -> None:
    with serve(graph_routes(), data_dir=str(tmp_path), auth="required", credentials=KEYS) as client:
        base = client.base_url
        with (
            httpx.Client(base_url=base, headers=ALICE) as alice,
            httpx.Client(base_url=base, headers=MOD) as mod,
        ):
            collect(alice, "review", {"input": {}, "thread_id": "t-alice"})
            assert alice.get("/v1/moderation/approvals").status_code == 403
            (run,) = mod.get("/v1/moderation/approvals").json()["runs"]
            assert run["key_alias"] == "alice"
            call_id = run["approvals"][0]["call_id"]
            decisions = {"decisions": [{"call_id": call_id, "type": "reject", "message": "no"}]}
            response = mod.post("/v1/threads/t-alice/approvals", json=decisions)
            assert response.status_code == 202
            resumed = response.json()["run_id"]
            snapshot = poll_until(
                lambda: (s := mod.get(f"/v1/runs/{resumed}").json())["status"] != "running" and s,
                timeout=30,
            )
            assert snapshot["status"] == "completed"
            assert snapshot["thread_id"] == "t-alice"
            assert mod.get("/v1/moderation/approvals").json()["runs"] == []
            state = alice.get("/v1/threads/t-alice").json()
            assert state["values"]["decisions"] == [{"type": "reject", "message": "no"}]
