"""The UI with auth on: the key from the header field opens exactly what its role allows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from tests.ui.pages import open_playground, run_id, send, wait_until_ended
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_routes
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

if TYPE_CHECKING:
    from playwright.sync_api import Page

KEYS = Credentials(
    [
        ApiKey.from_config({"alias": "alice", "key": "k-alice"}),
        ApiKey.from_config({"alias": "mod", "key": "k-mod", "roles": ["moderator"]}),
    ]
)


# Requested before the pages, so the pages close before this server stops.
@pytest.fixture
def secured(mock_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("data")))
    app = create_app(demo_routes(f"{mock_url}/v1", "itl=50,tokens=400"), settings, credentials=KEYS)
    with BackgroundServer(app) as server:
        yield server.url


def enter_key(page: Page, key: str) -> None:
    page.fill("#api-key", key)
    page.dispatch_event("#api-key", "change")


def test_a_moderator_key_halts_a_clients_run(new_page: Callable[[], Page], secured: str) -> None:
    chat = new_page()
    chat.goto(f"{secured}/ui/")
    chat.wait_for_selector("#routes-error")
    assert "enter an API key" in (chat.text_content("#routes-error") or "")
    enter_key(chat, "k-alice")
    chat.wait_for_selector("#route option[value=chat]", state="attached")
    open_playground(chat, secured, "chat")  # the key survives a reload (sessionStorage)
    send(chat, "Tell me a long story")
    halted = run_id(chat)

    console = new_page()
    console.goto(f"{secured}/ui/console.html")
    enter_key(console, "k-alice")
    console.wait_for_function(
        "() => document.getElementById('refreshed').textContent.includes('moderator role')"
    )
    enter_key(console, "k-mod")
    row = console.locator(f"tr[data-run-id='{halted}']")
    row.wait_for()
    assert row.locator("td").nth(6).text_content() == "alice"
    with console.expect_response(lambda r: r.url.endswith(f"/v1/runs/{halted}/cancel")) as halt:
        row.locator("button.halt").click()
    assert halt.value.status == 200
    assert halt.value.json()["status"] == "cancelled", halt.value.json()

    assert wait_until_ended(chat, timeout=10_000) == "cancelled"
    assert "halted by a moderator" in (chat.text_content(".notice.stopped") or "")


def test_the_dashboard_needs_a_moderator_key(secured: str, page: Page) -> None:
    page.goto(f"{secured}/ui/dashboard.html")
    page.wait_for_selector("#live[data-state=reconnecting]")
    assert "Unauthorized" in (page.text_content("#live") or "")
    enter_key(page, "k-mod")
    page.wait_for_selector("#live[data-state=live]")
    assert page.text_content("#tile-runs") == "0"
