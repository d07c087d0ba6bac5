"""The chat playground in a real browser against a live gateway and the mock LLM."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.ui.conftest import screenshot
from tests.ui.pages import last_answer, open_playground, run_id, send, wait_until_ended

if TYPE_CHECKING:
    from playwright.sync_api import Page

Demo = Callable[..., httpx.Client]


def test_chat_text_grows_token_by_token_and_badges_show_ttft_and_tokens(
    page: Page, demo: Demo
) -> None:
    gateway = demo()
    open_playground(page, str(gateway.base_url), "chat")
    send(page, "Tell me about streaming")

    lengths: list[int] = []
    while True:
        sample = last_answer(page)
        if sample is not None and sample[0] != "running":
            break
        if sample is not None:
            lengths.append(sample[1])
        page.wait_for_timeout(40)
    growth = sum(1 for a, b in itertools.pairwise(lengths) if b > a)
    assert growth >= 3, f"text did not grow while streaming: {lengths}"
    assert lengths[0] < lengths[-1]

    assert wait_until_ended(page) == "completed"
    ttft = page.text_content(".msg.assistant .badge[data-kind=ttft]") or ""
    assert re.fullmatch(r"TTFT \d+ ms", ttft.strip()), ttft
    assert (page.text_content(".msg.assistant .badge[data-kind=tokens]") or "").strip() == (
        "tokens 40"
    )
    assert re.fullmatch(
        r"tok/s \d+\.\d", (page.text_content(".badge[data-kind=speed]") or "").strip()
    )
    # What the page shows is exactly what the gateway delivered: nothing lost, nothing twice.
    snapshot = gateway.get(f"/v1/runs/{run_id(page)}").json()
    assert " ".join(last_answer(page)[2].split()) == " ".join(snapshot["output"].split())


def test_stop_button_cancels_the_run(page: Page, demo: Demo) -> None:
    gateway = demo("itl=50,tokens=400")
    open_playground(page, str(gateway.base_url), "chat")
    send(page, "Tell me a very long story")
    page.wait_for_function("() => document.querySelector('.msg.assistant .answer').textContent")
    assert page.is_enabled("#stop")
    page.click("#stop")

    assert wait_until_ended(page, timeout=10_000) == "cancelled"
    notice = page.text_content(".msg.assistant .notice.stopped") or ""
    assert "run cancelled: stopped by the user" in notice
    snapshot = gateway.get(f"/v1/runs/{run_id(page)}").json()
    assert snapshot["status"] == "cancelled"
    assert snapshot["error"]["code"] == "cancelled"
    assert len(snapshot["output"].split()) < 400
    assert page.is_disabled("#stop") and page.is_enabled("#send")


def test_rag_route_shows_citations(page: Page, demo: Demo) -> None:
    gateway = demo()
    open_playground(page, str(gateway.base_url), "rag")
    send(page, "How does resuming with Last-Event-ID work?")
    assert wait_until_ended(page) == "completed"
    citations = page.locator(".msg.assistant .citations li")
    assert citations.count() >= 1
    assert "Resuming a stream" in (citations.first.text_content() or "")
    assert "Last-Event-ID" in (citations.first.text_content() or "")
    screenshot(page, "playground-rag")


def test_agent_route_shows_tool_steps(page: Page, demo: Demo) -> None:
    gateway = demo()
    open_playground(page, str(gateway.base_url), "agent")
    send(page, "Status of order_id=A123?")
    assert wait_until_ended(page) == "completed"
    step = page.locator(".msg.assistant .timeline .step").first
    assert (step.get_attribute("class") or "").split() == ["step", "done"]
    assert step.locator(".tool-name").text_content() == "get_order_status"
    assert "A123" in (step.locator(".tool-args").text_content() or "")
    assert "shipped" in (step.locator(".tool-output").text_content() or "")
    assert "The tool returned" in last_answer(page)[2]
    screenshot(page, "playground-agent")


def test_model_output_cannot_inject_html(page: Page, demo: Demo) -> None:
    gateway = demo("itl=5")
    open_playground(page, str(gateway.base_url), "chat")
    # The mock echoes the message, so this is what the model "says".
    send(page, "<img src=x onerror=window.__pwned=1> and **bold** and `<b>code</b>`")
    assert wait_until_ended(page) == "completed"
    answer = page.locator(".msg.assistant .answer")
    assert answer.locator("img").count() == 0
    assert answer.locator("b").count() == 0
    assert "<img src=x onerror=window.__pwned=1>" in (answer.text_content() or "")
    assert answer.locator("strong").text_content() == "bold"
    assert answer.locator("code").text_content() == "<b>code</b>"
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.__pwned") is None
    screenshot(page, "playground-markdown")


def test_stream_rejoins_after_the_connection_drops(page: Page, demo: Demo) -> None:
    # The gateway closes every stream after 0.5 s; the run takes ~2.5 s, so the page must
    # rejoin (Last-Event-ID) several times and still show every token exactly once.
    gateway = demo("itl=40,tokens=60", max_stream_seconds=0.5)
    open_playground(page, str(gateway.base_url), "chat")
    send(page, "Tell me about streaming")
    assert wait_until_ended(page) == "completed"
    rejoins = int(page.text_content("#info-rejoins") or "0")
    assert rejoins >= 2
    assert f"rejoined \u00d7{rejoins}" in (page.text_content(".badge[data-kind=rejoins]") or "")
    snapshot = gateway.get(f"/v1/runs/{run_id(page)}").json()
    assert last_answer(page)[2].split() == snapshot["output"].split()
    assert len(snapshot["output"].split()) == 60


def test_demo_runs_are_priced_so_cost_shows(page: Page, demo: Demo) -> None:
    """The mock's model is in no price list; the demo prices it (``DEMO_PRICES``)."""
    gateway = demo("itl=5,tokens=40")
    open_playground(page, str(gateway.base_url), "chat")
    send(page, "What does it cost?")
    assert wait_until_ended(page) == "completed"
    cost = (page.text_content(".msg.assistant .badge[data-kind=cost]") or "").strip()
    snapshot = gateway.get(f"/v1/runs/{run_id(page)}").json()
    usage = snapshot["usage"]
    assert usage["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * 0.15 + usage["output_tokens"] * 0.60) / 1_000_000
    )
    assert re.fullmatch(r"cost \$\d+\.\d+", cost), cost
    page.goto(f"{gateway.base_url}/ui/dashboard.html?window=60&bucket=1")
    page.wait_for_function("() => document.getElementById('tile-runs').textContent === '1'")
    assert (page.text_content("#tile-cost") or "").startswith("$")
