"""Pending approvals expire: after ``approval_timeout_seconds`` a thread still waiting for
a decision is answered ``reject`` by a resumed run of its own (audited like any other)."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tokenwire import Guardrails, Route
from tokenwire.testing import collect, poll_until, serve

REQUEST = {
    "action_requests": [{"name": "send_email", "args": {"to": "ops"}, "description": "send?"}],
    "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve", "reject"]}],
}


class State(TypedDict, total=False):
    decisions: list[Any]


def _review(state: State) -> State:
    return {"decisions": interrupt(REQUEST)["decisions"]}


def graph() -> Any:
    builder = StateGraph(State)
    builder.add_node("review", _review)
    builder.add_edge(START, "review")
    builder.add_edge("review", END)
    return builder.compile()


def test_an_unanswered_approval_is_rejected_when_it_expires(tmp_path: Any) -> None:
    routes = [Route("review", graph())]
    with serve(routes, data_dir=str(tmp_path), approval_timeout_seconds=0.2) as client:
        events = collect(client, "review", {"input": {}, "thread_id": "t"})
        (approval,) = [e.data for e in events if e.event == "approval.required"]
        assert approval["allowed_decisions"] == ["approve", "reject"]

        def decided() -> Any:
            values = client.get("/v1/threads/t").json()["values"]
            return values.get("decisions")

        (decision,) = poll_until(decided, timeout=30)
        assert decision["type"] == "reject" and "timed out" in decision["message"]


def test_a_decided_approval_does_not_expire(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="tokenwire.threads")
    routes = [Route("review", graph())]
    # Long enough for the approval to arrive first even on a loaded machine.
    with serve(routes, data_dir=str(tmp_path), approval_timeout_seconds=3) as client:
        events = collect(client, "review", {"input": {}, "thread_id": "t"})
        (approval,) = [e.data for e in events if e.event == "approval.required"]
        decisions = {"decisions": [{"call_id": approval["call_id"], "type": "approve"}]}
        with client.stream(
            "POST",
            "/v1/threads/t/approvals",
            json=decisions,
            headers={"Accept": "text/event-stream"},
        ) as response:
            assert response.status_code == 200
            response.read()
        state = client.get("/v1/threads/t").json()
        assert state["values"]["decisions"] == [{"type": "approve"}]
        history = client.get("/v1/threads/t/history").json()["states"]
        poll_until(
            lambda: any("no approval left to expire" in r.getMessage() for r in caplog.records),
            timeout=30,
        )
        # One resume only: the expiry found nothing left to reject.
        assert client.get("/v1/threads/t/history").json()["states"] == history


def _mailing_graph() -> Any:
    def review(state: State) -> State:
        request = {
            "action_requests": [
                {
                    "name": "send_email",
                    "args": {"to": "jane.doe@example.com"},
                    "description": "Send to jane.doe@example.com?",
                }
            ],
            "review_configs": [{"action_name": "send_email", "allowed_decisions": ["reject"]}],
        }
        return {"decisions": interrupt(request)["decisions"]}

    builder = StateGraph(State)
    builder.add_node("review", review)
    builder.add_edge(START, "review")
    builder.add_edge("review", END)
    return builder.compile()


@pytest.mark.parametrize("mask", [["tool_io"], ["input"]])
def test_pii_in_approvals_and_thread_state_is_masked(mask: list[str], tmp_path: Any) -> None:
    rails = Guardrails.from_config({"pii": True, "mask": mask})
    routes = [Route("review", _mailing_graph(), guardrails=rails)]
    with serve(routes, data_dir=str(tmp_path)) as client:
        body = {"input": {"decisions": ["from jane.doe@example.com"]}, "thread_id": "t"}
        events = collect(client, "review", body)
        state = client.get("/v1/threads/t").text
        history = client.get("/v1/threads/t/history").text
    assert "jane.doe@example.com" not in state + history
    if mask == ["tool_io"]:
        (approval,) = [e.data for e in events if e.event == "approval.required"]
        assert "jane.doe@example.com" not in str(approval)


def test_approvals_retried_with_their_idempotency_key_replay(tmp_path: Any) -> None:
    with serve([Route("review", graph())], data_dir=str(tmp_path)) as client:
        events = collect(client, "review", {"input": {}, "thread_id": "t"})
        (approval,) = [e.data for e in events if e.event == "approval.required"]
        body = {"decisions": [{"call_id": approval["call_id"], "type": "approve"}]}
        headers = {"Idempotency-Key": "decide-1"}
        first = client.post("/v1/threads/t/approvals", json=body, headers=headers)
        assert first.status_code == 202, first.text
        run_id = first.json()["run_id"]
        poll_until(
            lambda: client.get(f"/v1/runs/{run_id}").json()["status"] == "completed", timeout=30
        )
        again = client.post("/v1/threads/t/approvals", json=body, headers=headers)
        assert again.status_code == 200, again.text  # not "the thread waits for no approval"
        assert again.json()["run_id"] == run_id
        assert again.headers["Idempotent-Replayed"] == "true"
