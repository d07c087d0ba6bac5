"""Small helpers for driving the UI pages in tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: [status, answer text length, answer text] of the newest assistant message.
LAST_ANSWER = """() => {
  const m = [...document.querySelectorAll('.msg.assistant')].pop();
  if (!m) return null;
  const text = m.querySelector('.answer').textContent;
  return [m.dataset.status, text.length, text];
}"""


def open_playground(page: Page, base_url: str, route: str) -> None:
    page.goto(f"{base_url}/ui/?route={route}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#route") == route


def send(page: Page, text: str) -> None:
    page.fill("#prompt", text)
    page.click("#send")


def last_answer(page: Page) -> Any:
    return page.evaluate(LAST_ANSWER)


def wait_until_ended(page: Page, timeout: float = 20_000) -> str:
    page.wait_for_function(
        "() => { const m = [...document.querySelectorAll('.msg.assistant')].pop();"
        " return m && m.dataset.status !== 'running'; }",
        timeout=timeout,
    )
    status: str = page.evaluate(LAST_ANSWER)[0]
    return status


def run_id(page: Page) -> str:
    page.wait_for_selector(".msg.assistant[data-run-id]")
    value = page.get_attribute(".msg.assistant[data-run-id] >> nth=-1", "data-run-id")
    assert value
    return value
