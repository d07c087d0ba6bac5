"""Browser tests: Playwright for Python driving Debian's Chromium against a live gateway.

Chromium comes from the project's test set-up (``make system-deps``). Without it these
tests skip — except under ``CI=true``, where a missing browser is a failure, not a skip.
Set ``TOKENWIRE_TEST_SCREENSHOTS=docs/screenshots`` to save the README's screenshots.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_gateway

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium keeps dialling out to addresses that are closed here.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Slow enough that a test can watch the text grow (40 tokens, 30 ms apart).
WATCHABLE = "itl=30,tokens=40"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: run `make system-deps` as root to install it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser, serve: Callable[..., httpx.Client]) -> Iterator[Callable[[], Page]]:
    """``new_page()`` → a fresh page in its own context (own sessionStorage).

    Depends on ``serve`` so that pages close before the servers stop: a page still holding
    an endless stream (the dashboard's) would otherwise stall the server's shutdown and
    leave its socket to be collected, unclosed, during some later test.
    """
    contexts = []

    def make() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def demo(
    serve: Callable[..., httpx.Client], mock_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., httpx.Client]:
    """``demo(profile, **settings)`` → a client on a live gateway serving the demo routes
    (without auth unless ``auth=`` says otherwise)."""

    def start(profile: str = WATCHABLE, **settings: Any) -> httpx.Client:
        # Auth off as in `tokenwire demo`; test_auth.py drives the UI with keys.
        settings.setdefault("auth", "none")
        settings.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
        # Priced as `tokenwire demo` prices the mock, so cost shows.
        return serve(demo_gateway(f"{mock_url}/v1", profile, Settings(**settings)))

    return start


def screenshot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save ``docs/screenshots/<name>.png`` when ``TOKENWIRE_TEST_SCREENSHOTS`` names a folder."""
    folder = os.environ.get("TOKENWIRE_TEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)
