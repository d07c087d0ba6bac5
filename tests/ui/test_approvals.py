"""A graph paused for a human: the playground's approval and interrupt cards, and the
moderator console deciding for a run that waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict

from tests.ui.conftest import screenshot
from tests.ui.pages import last_answer, open_playground, send, wait_until_ended
from tokenwire import Route
from tokenwire.testing import collect

if TYPE_CHECKING:
    from playwright.sync_api import Page

REQUEST = {
    "action_requests": [{"name": "send_email", "args": {"to": "ops"}, "description": "send?"}],
    "review_configs": [
        {"action_name": "send_email", "allowed_decisions": ["approve", "edit", "reject"]}
    ],
}


class State(TypedDict, total=False):
    messages: list[Any]
    decisions: list[Any]


def _review(state: State) -> State:
    decisions = interrupt(REQUEST)["decisions"]
    reply = AIMessage(f"decided: {decisions[0]['type']}")
    return {"decisions": decisions, "messages": [*state.get("messages", []), reply]}


def _ask(state: State) -> State:
    return {"decisions": [interrupt({"question": "which colour?"})]}


def _graph(node: Any) -> Any:
    builder = StateGraph(State)
    builder.add_node("node", node)
    builder.add_edge(START, "node")
    builder.add_edge("node", END)
    return builder.compile()


def graph_routes() -> list[Route]:
    return [Route("review", _graph(_review)), Route("ask", _graph(_ask))]


def _messages(page: Page) -> Any:
    return page.evaluate(
        "() => [...document.querySelectorAll('.msg.assistant')].map(m => m.dataset.status)"
    )


def test_playground_approves_a_paused_call_and_shows_the_resumed_result(
    page: Page, serve: Callable[..., httpx.Client]
) -> None:
    client = serve(graph_routes())
    open_playground(page, str(client.base_url), "review")
    thread = page.text_content("#info-thread") or ""
    assert thread.startswith("pg-")
    send(page, "mail ops please")
    assert wait_until_ended(page) == "interrupted"
    card = page.locator(".msg.assistant .approval[data-call-id]")
    assert card.locator(".tool-name").text_content() == "send_email"
    assert '"to": "ops"' in (card.locator(".approval-args").text_content() or "")
    buttons = card.locator("button.decision")
    assert buttons.evaluate_all("bs => bs.map(b => b.dataset.decision)") == [
        "approve",
        "edit",
        "reject",
    ]
    screenshot(page, "playground-approval")
    assert page.is_disabled("button.submit-decisions")
    card.locator("button[data-decision=approve]").click()
    with page.expect_response(lambda r: f"/v1/threads/{thread}/approvals" in r.url) as sent:
        page.click("button.submit-decisions")
    assert sent.value.status == 200
    page.wait_for_function("() => document.querySelectorAll('.msg.assistant').length === 2")
    assert wait_until_ended(page) == "completed"
    assert last_answer(page)[2] == "decided: approve"
    assert _messages(page) == ["interrupted", "completed"]
    state = client.get(f"/v1/threads/{thread}").json()
    assert state["values"]["decisions"] == [{"type": "approve"}]


def test_playground_edits_args_and_starts_a_new_thread(
    page: Page, serve: Callable[..., httpx.Client]
) -> None:
    client = serve(graph_routes())
    open_playground(page, str(client.base_url), "review")
    first = page.text_content("#info-thread")
    send(page, "mail ops")
    assert wait_until_ended(page) == "interrupted"
    page.click("button[data-decision=edit]")
    page.fill("textarea.edit-args", '{"to": "dev"}')
    page.click("button.submit-decisions")
    page.wait_for_function("() => document.querySelectorAll('.msg.assistant').length === 2")
    assert wait_until_ended(page) == "completed"
    decisions = client.get(f"/v1/threads/{first}").json()["values"]["decisions"]
    assert decisions == [
        {"type": "edit", "edited_action": {"name": "send_email", "args": {"to": "dev"}}}
    ]
    page.click("#new-thread")
    assert page.text_content("#info-thread") not in (first, "—")


def test_playground_resumes_a_plain_interrupt_with_an_answer(
    page: Page, serve: Callable[..., httpx.Client]
) -> None:
    client = serve(graph_routes())
    open_playground(page, str(client.base_url), "ask")
    thread = page.text_content("#info-thread")
    send(page, "go")
    assert wait_until_ended(page) == "interrupted"
    assert "which colour?" in (page.text_content("pre.interrupt-value") or "")
    assert page.locator(".approval").count() == 0
    page.fill("input.resume-value", "red")
    page.click("button.submit-resume")
    page.wait_for_function("() => document.querySelectorAll('.msg.assistant').length === 2")
    assert wait_until_ended(page) == "completed"
    assert client.get(f"/v1/threads/{thread}").json()["values"]["decisions"] == ["red"]


def test_console_lists_a_waiting_run_and_deciding_there_resumes_it(
    page: Page, serve: Callable[..., httpx.Client]
) -> None:
    client = serve(graph_routes())
    events = collect(client, "review", {"input": {"messages": []}, "thread_id": "t-console"})
    assert events[-1].data["status"] == "interrupted"
    paused = events[0].data["run_id"]

    page.goto(f"{client.base_url}/ui/console.html")
    row = page.locator("#approvals tr[data-thread-id='t-console']")
    row.wait_for()
    assert row.get_attribute("data-run-id") == paused
    assert 'send_email({"to":"ops"})' in (row.locator("pre").text_content() or "")
    row.locator("button.review").click()
    page.click("#watch-message button[data-decision=reject]")
    page.fill("#watch-message input.decision-message", "not today")
    screenshot(page, "console-approval")
    page.click("#watch-message button.submit-decisions")
    page.wait_for_selector("#watch-message .msg.assistant[data-status=completed]")
    assert "decided: reject" in (page.text_content("#watch-message .answer") or "")
    row.wait_for(state="detached")
    assert page.is_visible("#no-approvals")
    decisions = client.get("/v1/threads/t-console").json()["values"]["decisions"]
    assert decisions == [{"type": "reject", "message": "not today"}]
