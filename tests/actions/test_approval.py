"""``@action(requires_approval=True)`` against a counting system of record: no call runs
before a human approves it — on a thread through LangGraph's ``interrupt()`` and the
threads approvals API, in a plain chain by waiting within the live run — and an approved
call that is redone is replayed, not asked about or executed again."""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tests.actions.conftest import Crm
from tokenwire import Route
from tokenwire.actions import action
from tokenwire.testing import collect, iter_sse, poll_until, rejoin, serve


class _State(TypedDict, total=False):
    title: str
    ticket: Any
    confirmed: Any


def _gated_graph(url: str, *, confirm_after: bool = False) -> Any:
    @action(requires_approval=True, description="Create a CRM ticket")
    async def create_ticket(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/tickets", json={"title": title})
        created: dict[str, Any] = response.json()
        return created

    async def file(state: _State) -> _State:
        ticket = await create_ticket(state["title"])
        if confirm_after:  # a second pause in the same node: it re-runs on resume
            return {"ticket": ticket, "confirmed": interrupt({"confirm": ticket})}
        return {"ticket": ticket}

    builder = StateGraph(_State)
    builder.add_node("file", file)
    builder.add_edge(START, "file")
    builder.add_edge("file", END)
    return builder.compile()


def _paused(client: httpx.Client, thread: str) -> dict[str, Any]:
    events = collect(client, "file", {"input": {"title": "refund"}, "thread_id": thread})
    assert events[-1].data["status"] == "interrupted"
    (asked,) = [e.data for e in events if e.event == "approval.required"]
    question: dict[str, Any] = asked
    return question


def _decide(client: httpx.Client, thread: str, decision: dict[str, Any]) -> list[Any]:
    with client.stream(
        "POST",
        f"/v1/threads/{thread}/approvals",
        json={"decisions": [decision]},
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200, response.read()
        return list(iter_sse(response))


def test_on_a_thread_the_call_runs_only_once_approved(crm: tuple[Crm, str], tmp_path: Any) -> None:
    records, url = crm
    with serve([Route("file", _gated_graph(url))], data_dir=str(tmp_path)) as client:
        asked = _paused(client, "t")
        assert (asked["name"], asked["args"]) == ("create_ticket", {"title": "refund"})
        assert asked["description"] == "Create a CRM ticket"
        assert records.tickets == []  # asked, not run
        events = _decide(client, "t", {"call_id": asked["call_id"], "type": "approve"})
        assert events[-1].data["status"] == "completed"
        assert events[-1].data["output"]["ticket"] == {"id": 1}
    assert [t["title"] for t in records.tickets] == ["refund"]


def test_a_rejected_call_never_runs_and_an_edited_one_runs_as_edited(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    with serve([Route("file", _gated_graph(url))], data_dir=str(tmp_path)) as client:
        asked = _paused(client, "no")
        reject = {"call_id": asked["call_id"], "type": "reject", "message": "not today"}
        end = _decide(client, "no", reject)[-1].data
        assert end["status"] == "completed"
        assert end["output"]["ticket"] == {
            "status": "rejected",
            "action": "create_ticket",
            "message": "not today",
        }
        assert records.tickets == []

        asked = _paused(client, "edit")
        edit = {"call_id": asked["call_id"], "type": "edit", "args": {"title": "refund 42"}}
        assert _decide(client, "edit", edit)[-1].data["status"] == "completed"
    assert [t["title"] for t in records.tickets] == ["refund 42"]


def test_an_approved_call_redone_on_resume_is_replayed_not_asked_again(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    graph = _gated_graph(url, confirm_after=True)
    with serve([Route("file", graph)], data_dir=str(tmp_path)) as client:
        asked = _paused(client, "t")
        events = _decide(client, "t", {"call_id": asked["call_id"], "type": "approve"})
        assert events[-1].data["status"] == "interrupted"  # now at the confirmation
        assert not [e for e in events if e.event == "approval.required"]
        resumed = collect(client, "file", {"thread_id": "t", "command": {"resume": "yes"}})
        assert resumed[-1].data["status"] == "completed"
        assert not [e for e in resumed if e.event == "approval.required"]
    assert len(records.tickets) == 1


def _gated_chain(url: str) -> Any:
    @action(requires_approval=True)
    def create_ticket(title: str) -> dict[str, Any]:
        created: dict[str, Any] = httpx.post(f"{url}/tickets", json={"title": title}).json()
        return created

    return RunnableLambda(lambda payload: create_ticket(payload["title"]))


def _start(client: httpx.Client) -> str:
    started = client.post("/v1/routes/file/runs", json={"input": {"title": "refund"}})
    assert started.status_code == 202
    run_id: str = started.json()["run_id"]
    return run_id


def test_a_plain_chain_waits_within_the_live_run_for_the_decision(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    routes = [Route("file", _gated_chain(url), mode="events")]
    with serve(routes, data_dir=str(tmp_path)) as client:
        run_id = _start(client)
        snapshot = poll_until(
            lambda: (s := client.get(f"/v1/runs/{run_id}").json()).get("approvals") and s,
            timeout=30,
        )
        assert snapshot["status"] == "running" and records.tickets == []
        (asked,) = snapshot["approvals"]
        decide = f"/v1/runs/{run_id}/approvals"
        unknown = client.post(decide, json={"decisions": [{"call_id": "x", "type": "approve"}]})
        assert unknown.status_code == 422 and "no pending approval" in unknown.text
        assert client.post(decide, json={"approve": True}).status_code == 422
        answered = client.post(
            decide, json={"decisions": [{"call_id": asked["call_id"], "type": "approve"}]}
        )
        assert answered.status_code == 200
        done = poll_until(
            lambda: (s := client.get(f"/v1/runs/{run_id}").json())["status"] != "running" and s,
            timeout=30,
        )
        assert done["status"] == "completed" and done["output"] == {"id": 1}
        late = client.post(
            decide, json={"decisions": [{"call_id": asked["call_id"], "type": "approve"}]}
        )
        assert late.status_code == 409
        events = rejoin(client, run_id, 0)
        assert [e.event for e in events].count("approval.required") == 1
    assert len(records.tickets) == 1


def test_a_live_question_nobody_answers_is_rejected_at_the_timeout(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    records, url = crm
    routes = [Route("file", _gated_chain(url), mode="events")]
    with serve(routes, data_dir=str(tmp_path), approval_timeout_seconds=0.2) as client:
        events = collect(client, "file", {"input": {"title": "refund"}})
    end = events[-1].data
    assert end["status"] == "completed"
    assert end["output"] == {
        "status": "rejected",
        "action": "create_ticket",
        "message": "the approval timed out",
    }
    assert records.tickets == []


def test_a_live_question_is_shown_masked_in_the_run_snapshot(
    crm: tuple[Crm, str], tmp_path: Any
) -> None:
    from tokenwire import Guardrails

    _, url = crm
    rails = Guardrails.from_config({"pii": True, "mask": ["tool_io"]})
    routes = [Route("file", _gated_chain(url), mode="events", guardrails=rails)]
    with serve(routes, data_dir=str(tmp_path)) as client:
        started = client.post(
            "/v1/routes/file/runs", json={"input": {"title": "call jane.doe@example.com"}}
        )
        run = f"/v1/runs/{started.json()['run_id']}"
        snapshot = poll_until(
            lambda: (s := client.get(run).json()).get("approvals") and s, timeout=30
        )
        client.post(f"{run}/cancel")
    (asked,) = snapshot["approvals"]
    assert "jane.doe@example.com" not in str(asked) and "call " in asked["args"]["title"]


def test_a_cancelled_run_answers_its_open_question_so_a_sync_action_returns(
    tmp_path: Any,
) -> None:
    """A sync action asks from a worker thread, which a cancel does not stop: unanswered,
    it would wait for ever (and hold the process's exit)."""
    returned: list[Any] = []

    @action(requires_approval=True)
    def create_ticket(title: str) -> dict[str, Any]:
        return {"id": 1}

    def call(payload: dict[str, Any]) -> Any:
        returned.append(create_ticket(payload["title"]))
        return returned[-1]

    with serve(
        [Route("file", RunnableLambda(call), mode="events")], data_dir=str(tmp_path)
    ) as client:
        run_id = _start(client)
        poll_until(lambda: client.get(f"/v1/runs/{run_id}").json().get("approvals"), timeout=30)
        assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200
        poll_until(lambda: returned, timeout=30)
    assert returned == [
        {
            "status": "rejected",
            "action": "create_ticket",
            "message": "the run ended before a decision",
        }
    ]
