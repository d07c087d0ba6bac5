"""Human-in-the-loop approvals end to end: a real ``create_agent`` with LangChain's
``HumanInTheLoopMiddleware`` over ``ChatOpenAI`` on the mock provider, served by a live
gateway. A gated tool call pauses the run (``interrupt`` + ``approval.required``, then
``run.end`` ``interrupted``); ``POST /v1/threads/{id}/approvals`` answers it — approve,
edit or reject — and the agent carries on as LangChain documents; wrong answers are refused
with 422 and leave the thread waiting.

The mock answers a user message with one call of the tool the message names, its
arguments read from ``name=value`` in the text, and a tool message with
``"The tool returned: " + <its text>``; two calls in one turn come from a scripted model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain.agents.middleware.human_in_the_loop import (
    DecisionType,
    InterruptMode,
    InterruptOnConfig,
)
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import BaseTool, tool
from langgraph.graph import END, START, MessagesState, StateGraph

from tokenwire import Route
from tokenwire.demo.routes import demo_model
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.testing import (
    SSE,
    ScriptedChatModel,
    collect,
    iter_sse,
    serve,
    test_settings,
    text_turn,
    tool_call_turn,
    wait_for_status,
)

ALL: list[DecisionType] = ["approve", "edit", "reject"]


class Outbox:
    """Two real tools that record what they were called with."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.deleted: list[str] = []

    def tools(self) -> list[BaseTool]:
        @tool
        def send_email(to: str) -> str:
            """Send an e-mail to someone."""
            self.sent.append(to)
            return f"mail sent to {to}"

        @tool
        def delete_file(path: str) -> str:
            """Delete a file."""
            self.deleted.append(path)
            return f"deleted {path}"

        @tool
        def review_pr(type: Literal["approve", "comment"], body: str) -> str:
            """Review a pull request."""
            self.sent.append(f"{type}: {body}")
            return f"reviewed: {type}"

        return [send_email, delete_file, review_pr]


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


def _agent(
    model: Any,
    outbox: Outbox,
    allowed: list[DecisionType] | None = None,
    mode: InterruptMode = "batched",
) -> Any:
    review: InterruptOnConfig = {"allowed_decisions": allowed or ALL}
    gated: dict[str, bool | InterruptOnConfig] = {
        "send_email": review,
        "delete_file": review,
        "review_pr": review,
    }
    hitl: Any = HumanInTheLoopMiddleware(interrupt_on=gated, interrupt_mode=mode)
    return create_agent(model, tools=outbox.tools(), middleware=[hitl])


@pytest.fixture
def mail(
    mock_url: str, outbox: Outbox, checkpoint_settings: dict[str, Any]
) -> Iterator[httpx.Client]:
    """A gateway serving ``mail`` (batched), ``mail_per_call`` (approve/reject only),
    ``mail_edits`` (per call, every decision) and ``reviews`` (per call, edit/reject),
    its threads on SQLite and on PostgreSQL."""
    routes = [
        Route("mail", _agent(demo_model(f"{mock_url}/v1"), outbox)),
        Route("mail_edits", _agent(demo_model(f"{mock_url}/v1"), outbox, mode="per_call")),
        Route(
            "reviews",
            _agent(demo_model(f"{mock_url}/v1"), outbox, ["edit", "reject"], "per_call"),
        ),
        Route(
            "mail_per_call",
            _agent(demo_model(f"{mock_url}/v1"), outbox, ["approve", "reject"], "per_call"),
        ),
    ]
    with serve(routes, test_settings(**checkpoint_settings)) as client:
        yield client


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _start(client: httpx.Client, route: str, thread_id: str, text: str) -> list[SSE]:
    return collect(client, route, {"input": _ask(text), "thread_id": thread_id})


def _decide(client: httpx.Client, thread_id: str, decisions: Any, **headers: str) -> Any:
    """``POST /v1/threads/{id}/approvals``: the run's events (200), else the response."""
    with client.stream(
        "POST",
        f"/v1/threads/{thread_id}/approvals",
        json={"decisions": decisions},
        headers={"Accept": "text/event-stream", **headers},
    ) as response:
        if response.status_code != 200:
            response.read()
            return response
        return list(iter_sse(response))


def _end(events: list[SSE]) -> dict[str, Any]:
    assert [e.event for e in events].count("run.end") == 1
    assert events[-1].event == "run.end"
    data: dict[str, Any] = events[-1].data
    return data


def _approvals(events: list[SSE]) -> list[dict[str, Any]]:
    return [e.data for e in events if e.event == "approval.required"]


def _paused(events: list[SSE]) -> list[dict[str, Any]]:
    """The run ended interrupted: its approval requests."""
    end = _end(events)
    assert (end["status"], end["finish_reason"]) == ("interrupted", "interrupt"), end
    return _approvals(events)


def _thread(client: httpx.Client, thread_id: str, **headers: str) -> dict[str, Any]:
    response = client.get(f"/v1/threads/{thread_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- batched (the middleware's default) -------------------------------------------------------
def test_batched_interrupt_announces_each_gated_call(mail: httpx.Client, outbox: Outbox) -> None:
    events = _start(mail, "mail", "b-1", "send_email to=ada")
    (interrupt,) = [e.data for e in events if e.event == "interrupt"]
    (approval,) = _paused(events)
    interrupt_id = interrupt["interrupt_id"]
    assert interrupt["value"]["action_requests"][0]["args"] == {"to": "ada"}
    assert approval == {
        "call_id": f"{interrupt_id}:0",
        "interrupt_id": interrupt_id,
        "name": "send_email",
        "args": {"to": "ada"},
        "description": approval["description"],
        "allowed_decisions": ALL,
    }
    assert "send_email" in approval["description"]
    assert [e.event for e in events].index("interrupt") < [e.event for e in events].index(
        "approval.required"
    )
    assert outbox.sent == []  # nothing ran before the human said so
    assert _thread(mail, "b-1")["next"] == ["HumanInTheLoopMiddleware.after_model"]


def test_approve_runs_the_tool_and_completes(mail: httpx.Client, outbox: Outbox) -> None:
    (approval,) = _paused(_start(mail, "mail", "b-2", "send_email to=ada"))
    events = _decide(mail, "b-2", [{"call_id": approval["call_id"], "type": "approve"}])
    end = _end(events)
    assert end["status"] == "completed"
    assert end["output"] == "The tool returned: mail sent to ada"
    assert events[0].data["thread_id"] == "b-2"
    assert outbox.sent == ["ada"]
    after = _thread(mail, "b-2")
    assert (after["next"], after["interrupts"]) == ([], [])


def test_approvals_without_a_stream_answer_202(mail: httpx.Client, outbox: Outbox) -> None:
    (approval,) = _paused(_start(mail, "mail", "b-8", "send_email to=ada"))
    body = {"decisions": [{"call_id": approval["call_id"], "type": "approve"}]}
    response = mail.post("/v1/threads/b-8/approvals", json={**body, "metadata": {"by": "qa"}})
    assert response.status_code == 202, response.text
    run = wait_for_status(mail, response.json()["run_id"], "completed")
    assert run["thread_id"] == "b-8"
    assert outbox.sent == ["ada"]


def test_edit_runs_the_tool_with_the_new_args(mail: httpx.Client, outbox: Outbox) -> None:
    (approval,) = _paused(_start(mail, "mail", "b-3", "send_email to=ada"))
    decision = {"call_id": approval["call_id"], "type": "edit", "args": {"to": "grace"}}
    end = _end(_decide(mail, "b-3", [decision]))
    assert end["status"] == "completed"
    assert outbox.sent == ["grace"]
    # The model is told a reviewer replaced its call (the mock echoes only 40 words).
    messages = _thread(mail, "b-3")["values"]["messages"]
    (tool_message,) = [m for m in messages if m["type"] == "tool"]
    assert "human reviewer replaced this tool call" in tool_message["content"]
    assert tool_message["content"].endswith("mail sent to grace")


def test_reject_tells_the_model_and_runs_nothing(mail: httpx.Client, outbox: Outbox) -> None:
    (approval,) = _paused(_start(mail, "mail", "b-4", "send_email to=ada"))
    decision = {"call_id": approval["call_id"], "type": "reject", "message": "not today"}
    end = _end(_decide(mail, "b-4", [decision]))
    assert end["status"] == "completed"
    # The mock echoes the tool message it got: the middleware's rejection.
    rejection = "User rejected the tool call for `send_email` with reason: not today"
    assert end["output"] == f"The tool returned: {rejection}"
    assert outbox.sent == []
    messages = _thread(mail, "b-4")["values"]["messages"]
    (tool_message,) = [m for m in messages if m["type"] == "tool"]
    assert tool_message["content"] == rejection


def test_respond_answers_for_the_tool_and_a_batched_edit_may_switch_tools(
    mock_url: str, outbox: Outbox
) -> None:
    agent = _agent(demo_model(f"{mock_url}/v1"), outbox, ["edit", "respond"])
    with serve([Route("mail", agent)]) as client:
        (approval,) = _paused(_start(client, "mail", "b-6", "send_email to=ada"))
        respond = {"call_id": approval["call_id"], "type": "respond", "message": "ada is away"}
        end = _end(_decide(client, "b-6", [respond]))
        assert end["output"] == "The tool returned: ada is away"
        (approval,) = _paused(_start(client, "mail", "b-7", "send_email to=ada"))
        switch = {"type": "edit", "name": "delete_file", "args": {"path": "/tmp/ada"}}
        end = _end(_decide(client, "b-7", [{"call_id": approval["call_id"], **switch}]))
        assert end["status"] == "completed"
        assert (outbox.sent, outbox.deleted) == ([], ["/tmp/ada"])


def _two_calls_model() -> ScriptedChatModel:
    """One turn asking for two gated calls at once, then an answer."""
    both = AIMessageChunk(
        content="",
        tool_call_chunks=[
            {"name": "send_email", "args": '{"to": "ada"}', "id": "call-mail", "index": 0},
            {"name": "delete_file", "args": '{"path": "/tmp/x"}', "id": "call-rm", "index": 1},
        ],
    )
    return ScriptedChatModel(turns=[[both], text_turn("Done.")])


def test_two_gated_calls_in_one_turn_are_answered_in_one_request(outbox: Outbox) -> None:
    with serve([Route("mail", _agent(_two_calls_model(), outbox))]) as client:
        events = _start(client, "mail", "b-5", "tidy up")
        mail, rm = _paused(events)
        assert [(a["name"], a["args"]) for a in (mail, rm)] == [
            ("send_email", {"to": "ada"}),
            ("delete_file", {"path": "/tmp/x"}),
        ]
        assert mail["interrupt_id"] == rm["interrupt_id"]
        # Answered out of order: the gateway puts them back in the requests' order.
        decisions = [
            {"call_id": rm["call_id"], "type": "reject"},
            {"call_id": mail["call_id"], "type": "approve"},
        ]
        end = _end(_decide(client, "b-5", decisions))
        assert (end["status"], end["output"]) == ("completed", "Done.")
        assert (outbox.sent, outbox.deleted) == (["ada"], [])


def test_an_agent_inside_a_graph_is_approved_through_its_thread(
    mock_url: str, outbox: Outbox
) -> None:
    """The agent as a node of a bigger graph: its pause reaches the outer thread."""
    builder = StateGraph(MessagesState)
    builder.add_node("agent", _agent(demo_model(f"{mock_url}/v1"), outbox))
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    with serve([Route("outer", builder.compile())]) as client:
        (approval,) = _paused(_start(client, "outer", "s-1", "send_email to=ada"))
        assert _thread(client, "s-1")["next"] == ["agent"]
        events = _decide(client, "s-1", [{"call_id": approval["call_id"], "type": "approve"}])
        assert _end(events)["output"] == "The tool returned: mail sent to ada"
        assert outbox.sent == ["ada"]


# -- per call -----------------------------------------------------------------------------------
def test_per_call_uses_the_tool_call_id_and_the_schema_decisions(
    mail: httpx.Client, outbox: Outbox
) -> None:
    events = _start(mail, "mail_per_call", "p-1", "send_email to=ada")
    (approval,) = _paused(events)
    call_id = _thread(mail, "p-1")["values"]["messages"][-1]["tool_calls"][0]["id"]
    assert approval["call_id"] == call_id and call_id.startswith("call_")
    assert approval["allowed_decisions"] == ["approve", "reject"]
    assert (approval["name"], approval["args"]) == ("send_email", {"to": "ada"})
    edit = {"call_id": call_id, "type": "edit", "args": {"to": "grace"}}
    assert _decide(mail, "p-1", [edit]).status_code == 422  # not allowed for this tool
    end = _end(_decide(mail, "p-1", [{"call_id": call_id, "type": "approve"}]))
    assert (end["status"], end["output"]) == ("completed", "The tool returned: mail sent to ada")
    assert outbox.sent == ["ada"]


def test_per_call_edits_are_checked_against_the_response_schema(
    mail: httpx.Client, outbox: Outbox
) -> None:
    """LangGraph checks a per-call answer only when the graph resumes: one that does not
    match would fail the resumed run. The gateway refuses it first."""
    (approval,) = _paused(_start(mail, "mail_edits", "p-3", "send_email to=ada"))
    before = _thread(mail, "p-3")
    call_id = approval["call_id"]
    wrong: list[tuple[dict[str, Any], str]] = [
        ({"args": {"to": 5}}, "to: must be string"),
        ({"args": {"cc": "bob"}}, "to: required"),
        ({"name": "delete_file", "args": {"path": "/x"}}, "must keep the tool 'send_email'"),
    ]
    for fields, reason in wrong:
        response = _decide(mail, "p-3", [{"call_id": call_id, "type": "edit", **fields}])
        assert isinstance(response, httpx.Response), fields
        assert response.status_code == 422 and reason in response.text, response.text
    assert _thread(mail, "p-3")["checkpoint_id"] == before["checkpoint_id"]
    edit = {"call_id": call_id, "type": "edit", "args": {"to": "grace", "note": "extra"}}
    assert _end(_decide(mail, "p-3", [edit]))["status"] == "completed"
    assert outbox.sent == ["grace"]


def test_a_tool_argument_named_type_is_not_a_decision(mail: httpx.Client, outbox: Outbox) -> None:
    """``review_pr(type: Literal["approve", "comment"])``, gated with edit and reject: its
    argument schema (in the edit branch) holds "approve", which is still not allowed."""
    (approval,) = _paused(_start(mail, "reviews", "p-4", "review_pr body=lgtm"))
    assert approval["args"] == {"type": "approve", "body": "lgtm"}
    assert approval["allowed_decisions"] == ["edit", "reject"]
    response = _decide(mail, "p-4", [{"call_id": approval["call_id"], "type": "approve"}])
    assert response.status_code == 422, response
    edit = {"type": "edit", "args": {"type": "comment", "body": "nit"}}
    assert _end(_decide(mail, "p-4", [{"call_id": approval["call_id"], **edit}]))["status"] == (
        "completed"
    )
    assert outbox.sent == ["comment: nit"]


def test_per_call_two_calls_pause_together_and_resume_together(outbox: Outbox) -> None:
    agent = _agent(_two_calls_model(), outbox, mode="per_call")
    with serve([Route("mail", agent)]) as client:
        approvals = _paused(_start(client, "mail", "p-2", "tidy up"))
        by_call = {a["call_id"]: a for a in approvals}
        assert set(by_call) == {"call-mail", "call-rm"}
        assert by_call["call-mail"]["interrupt_id"] != by_call["call-rm"]["interrupt_id"]
        decisions = [
            {"call_id": "call-mail", "type": "edit", "args": {"to": "grace"}},
            {"call_id": "call-rm", "type": "reject", "message": "keep it"},
        ]
        end = _end(_decide(client, "p-2", decisions))
        assert (end["status"], end["output"]) == ("completed", "Done.")
        assert (outbox.sent, outbox.deleted) == (["grace"], [])


# -- refusals -------------------------------------------------------------------------------------
def test_wrong_answers_are_refused_and_the_thread_still_waits(
    mail: httpx.Client, outbox: Outbox
) -> None:
    (approval,) = _paused(_start(mail, "mail_per_call", "r-1", "send_email to=ada"))
    before = _thread(mail, "r-1")
    call_id = approval["call_id"]
    wrong: list[Any] = [
        [{"call_id": "call_nope", "type": "approve"}],  # no such call
        [{"call_id": call_id, "type": "edit", "args": {"to": "x"}}],  # not allowed here
        [{"call_id": call_id, "type": "launch"}],  # not a decision at all
        [{"call_id": call_id, "type": "approve"}, {"call_id": call_id, "type": "reject"}],
        [],  # a missing decision
        None,
    ]
    for decisions in wrong:
        response = _decide(mail, "r-1", decisions)
        assert isinstance(response, httpx.Response), decisions
        assert response.status_code == 422, (decisions, response.text)
    after = _thread(mail, "r-1")
    assert (after["next"], after["checkpoint_id"]) == (before["next"], before["checkpoint_id"])
    assert outbox.sent == []
    assert _end(_decide(mail, "r-1", [{"call_id": call_id, "type": "approve"}]))["status"] == (
        "completed"
    )


def test_every_pending_call_needs_a_decision(outbox: Outbox) -> None:
    with serve([Route("mail", _agent(_two_calls_model(), outbox))]) as client:
        mail, _ = _paused(_start(client, "mail", "r-2", "tidy up"))
        before = _thread(client, "r-2")
        response = _decide(client, "r-2", [{"call_id": mail["call_id"], "type": "approve"}])
        assert response.status_code == 422
        assert "no decision for" in response.text
        assert _thread(client, "r-2")["checkpoint_id"] == before["checkpoint_id"]
        assert outbox.sent == []


def test_a_later_pause_has_new_call_ids(outbox: Outbox) -> None:
    """Approved, the agent asks for another gated call: the first pause's call id is
    stale, the new one answers."""
    first = tool_call_turn("send_email", '{"to": "ada"}', "call-1")
    second = tool_call_turn("send_email", '{"to": "bob"}', "call-2")
    model = ScriptedChatModel(turns=[first, second, text_turn("Both sent.")])
    with serve([Route("mail", _agent(model, outbox))]) as client:
        (one,) = _paused(_start(client, "mail", "r-4", "mail twice"))
        (two,) = _paused(_decide(client, "r-4", [{"call_id": one["call_id"], "type": "approve"}]))
        assert two["args"] == {"to": "bob"} and two["call_id"] != one["call_id"]
        stale = _decide(client, "r-4", [{"call_id": one["call_id"], "type": "approve"}])
        assert stale.status_code == 422 and "no pending approval" in stale.text
        end = _end(_decide(client, "r-4", [{"call_id": two["call_id"], "type": "approve"}]))
        assert (end["status"], end["output"]) == ("completed", "Both sent.")
        assert outbox.sent == ["ada", "bob"]


def test_a_thread_waiting_for_nothing_has_nothing_to_approve(
    mail: httpx.Client, outbox: Outbox
) -> None:
    (approval,) = _paused(_start(mail, "mail", "r-3", "send_email to=ada"))
    decision = [{"call_id": approval["call_id"], "type": "approve"}]
    assert _end(_decide(mail, "r-3", decision))["status"] == "completed"
    again = _decide(mail, "r-3", decision)  # already answered
    assert again.status_code == 422 and "waits for no approval" in again.text
    assert _decide(mail, "never-ran", decision).status_code == 404
    assert outbox.sent == ["ada"]


def test_another_clients_thread_is_not_found_a_moderators_is(mock_url: str, outbox: Outbox) -> None:
    credentials = Credentials(
        [
            ApiKey.from_config({"alias": "alice", "key": "sk-alice"}),
            ApiKey.from_config({"alias": "bob", "key": "sk-bob"}),
            ApiKey.from_config({"alias": "mo", "key": "sk-mo", "roles": ["moderator"]}),
        ]
    )
    route = Route("mail", _agent(demo_model(f"{mock_url}/v1"), outbox))
    alice = {"Authorization": "Bearer sk-alice"}
    bob = {"Authorization": "Bearer sk-bob"}
    with serve([route], credentials=credentials, auth="required") as client:
        body = {"input": _ask("send_email to=ada"), "thread_id": "a-1"}
        with client.stream(
            "POST",
            "/v1/routes/mail/runs",
            json=body,
            headers={"Accept": "text/event-stream", **alice},
        ) as response:
            assert response.status_code == 200, response.read()
            (approval,) = _paused(list(iter_sse(response)))
        decision = [{"call_id": approval["call_id"], "type": "approve"}]
        refused = _decide(client, "a-1", decision, **bob)
        assert refused.status_code == 404, refused.text
        assert client.get("/v1/threads/a-1", headers=bob).status_code == 404
        assert _thread(client, "a-1", **alice)["interrupts"]  # still waiting
        assert outbox.sent == []
        # A moderator may decide for anyone; the thread stays alice's.
        moderator = {"Authorization": "Bearer sk-mo"}
        assert _end(_decide(client, "a-1", decision, **moderator))["status"] == "completed"
        assert outbox.sent == ["ada"]
        assert _thread(client, "a-1", **alice)["interrupts"] == []
        assert client.get("/v1/threads/a-1", headers=bob).status_code == 404


# -- the same resume as a plain command ----------------------------------------------------------
def test_resume_as_a_command_on_the_runs_endpoint(mail: httpx.Client, outbox: Outbox) -> None:
    (approval,) = _paused(_start(mail, "mail", "c-1", "send_email to=ada"))
    edit = {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "grace"}}}
    command = {"resume": {approval["interrupt_id"]: {"decisions": [edit]}}}
    end = _end(collect(mail, "mail", {"thread_id": "c-1", "command": command}))
    assert end["status"] == "completed"
    assert outbox.sent == ["grace"]
    assert _thread(mail, "c-1")["interrupts"] == []
