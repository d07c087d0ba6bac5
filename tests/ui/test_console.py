"""The moderator console: live runs, watching one, halting one."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from tests.ui.conftest import screenshot
from tests.ui.pages import last_answer, open_playground, run_id, send, wait_until_ended

if TYPE_CHECKING:
    from playwright.sync_api import Page

Demo = Callable[..., httpx.Client]


def test_a_run_halted_from_the_console_ends_on_the_chat_page_with_a_notice(
    new_page: Callable[[], Page], demo: Demo
) -> None:
    gateway = demo("itl=50,tokens=400")
    base = str(gateway.base_url)
    chat = new_page()
    open_playground(chat, base, "chat")
    send(chat, "Tell me a very long story about streams")
    chat.wait_for_function("() => document.querySelector('.msg.assistant .answer').textContent")
    halted = run_id(chat)

    console = new_page()
    console.goto(f"{base}/ui/console.html")
    row = console.locator(f"tr[data-run-id='{halted}']")
    row.wait_for()
    assert row.locator("td").nth(1).text_content() == "chat"
    first = int(row.locator(".tokens").text_content() or "0")
    console.wait_for_function(
        "([id, n]) => Number(document.querySelector(`tr[data-run-id='${id}'] .tokens`)"
        ".textContent) > n",
        arg=[halted, first],
    )

    row.locator("button.watch").click()
    console.wait_for_function(
        "() => document.querySelector('#watch-message .answer').textContent.length > 20"
    )
    # Watching replays from the first event: the watcher sees the chat's whole text so far.
    watched = console.text_content("#watch-message .answer") or ""
    assert watched.startswith("You said: Tell me a very long story")
    assert (console.text_content("#watch-events") or "").startswith("1 run.start")
    screenshot(console, "console")

    with console.expect_response(lambda r: r.url.endswith(f"/v1/runs/{halted}/cancel")) as halt:
        console.locator(f"tr[data-run-id='{halted}'] button.halt").click()
    assert halt.value.status == 200
    assert halt.value.json()["status"] == "cancelled", halt.value.json()

    assert wait_until_ended(chat, timeout=10_000) == "cancelled"
    notice = chat.text_content(".msg.assistant .notice.stopped") or ""
    assert notice == "Stopped — run cancelled: halted by a moderator"
    assert chat.text_content(".msg.assistant .badge[data-kind=status]") == "cancelled"
    # The watcher saw the same ending.
    console.wait_for_selector("#watch-message .msg[data-status=cancelled]")
    assert "halted by a moderator" in (console.text_content("#watch-message .notice") or "")
    # And the run left the live list.
    console.wait_for_selector(f"tr[data-run-id='{halted}']", state="detached")
    snapshot = gateway.get(f"/v1/runs/{halted}").json()
    assert snapshot["status"] == "cancelled"
    assert snapshot["error"]["message"] == "run cancelled: halted by a moderator"
    assert snapshot["output"].split() == last_answer(chat)[2].split()
    screenshot(chat, "playground-halted")


def test_api_key_is_kept_for_the_tab_and_sent_on_every_request(page: Page, demo: Demo) -> None:
    gateway = demo("itl=5")
    open_playground(page, str(gateway.base_url), "chat")
    page.fill("#api-key", "tw-test-key")
    page.dispatch_event("#api-key", "change")
    seen: list[dict[str, str]] = []
    page.on("request", lambda request: seen.append(request.headers))
    send(page, "hello")
    assert wait_until_ended(page) == "completed"
    assert seen and all(h.get("authorization") == "Bearer tw-test-key" for h in seen)
    page.goto(f"{gateway.base_url}/ui/console.html")
    assert page.input_value("#api-key") == "tw-test-key"
    assert page.evaluate("() => sessionStorage.getItem('tokenwire.apiKey')") == "tw-test-key"


def test_the_watch_cards_ttft_is_the_runs_not_since_watch_was_pressed(
    page: Page, demo: Demo
) -> None:
    """Watched a second into a run whose first token took 300 ms: the card says the run's
    TTFT (the gateway's), where it used to time the replayed first token from the click."""
    gateway = demo("ttft=300,itl=50,tokens=400")
    started = gateway.post("/v1/routes/chat/runs", json={"input": "a long one"}).json()
    watched = started["run_id"]
    while not gateway.get(f"/v1/runs/{watched}").json()["output"]:
        page.wait_for_timeout(50)
    page.wait_for_timeout(700)
    page.goto(f"{gateway.base_url}/ui/console.html")
    page.locator(f"tr[data-run-id='{watched}'] button.watch").click()
    badge = "#watch-message .badge[data-kind=ttft]"
    page.wait_for_function(f"() => /\\d/.test(document.querySelector('{badge}').textContent)")
    assert page.locator("#watch-message .msg").get_attribute("data-status") == "running"
    ttft_ms = gateway.get(f"/v1/runs/{watched}").json()["timings"]["ttft_ms"]
    assert ttft_ms >= 300
    shown = re.fullmatch(r"TTFT (\d+) ms", (page.text_content(badge) or "").strip())
    assert shown is not None and abs(int(shown[1]) - ttft_ms) <= 1, (shown, ttft_ms)
    assert "gateway" in (page.get_attribute(badge, "title") or "")
    gateway.post(f"/v1/runs/{watched}/cancel")
