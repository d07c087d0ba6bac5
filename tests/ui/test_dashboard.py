"""The live dashboard: charts and figures follow runs over SSE, without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx

from tests.ui.conftest import screenshot
from tokenwire.testing import collect

if TYPE_CHECKING:
    from playwright.sync_api import Page

Demo = Callable[..., httpx.Client]

CHART_POINTS = """(name) => {
  const data = window.tokenwireDashboard.charts[name].data;
  return data.slice(1).flat().filter((v) => v !== null && v !== undefined).length;
}"""
CANVAS = "(id) => document.querySelector(`#${id} canvas`).toDataURL()"


def _cancelled_run(client: httpx.Client) -> None:
    accepted = client.post("/v1/routes/chat/runs", json={"input": "a long one"}).json()
    client.post(f"/v1/runs/{accepted['run_id']}/cancel", json={"reason": "dashboard test"})


def test_dashboard_charts_change_after_runs(page: Page, demo: Demo) -> None:
    gateway = demo("ttft=60,itl=10,jitter=8,tokens=30")
    page.goto(f"{gateway.base_url}/ui/dashboard.html?window=60&bucket=1")
    page.wait_for_function("() => window.tokenwireDashboard.updates > 0")
    page.wait_for_selector("#live[data-state=live]")
    assert page.text_content("#tile-runs") == "0"
    assert page.text_content("#tile-ttft") == "—"
    for chart in ("ttft", "itl", "speed"):
        assert page.evaluate(CHART_POINTS, chart) == 0
    ttft_canvas = page.evaluate(CANVAS, "chart-ttft")
    updates = page.evaluate("() => window.tokenwireDashboard.updates")

    prompts = [f"Tell me about streaming, take {i}" for i in range(6)]
    with ThreadPoolExecutor(3) as pool:
        pool.map(lambda p: collect(gateway, "chat", {"input": p}), prompts[:3])
        list(pool.map(lambda p: collect(gateway, "rag", {"input": p}), prompts[3:]))
    _cancelled_run(gateway)

    page.wait_for_function("() => document.getElementById('tile-runs').textContent === '7'")
    # Pushed, not reloaded: the same page object received more summaries.
    assert page.evaluate("() => window.tokenwireDashboard.updates") > updates
    assert re.fullmatch(r"\d+ ms / \d+ ms", page.text_content("#tile-ttft") or "")
    assert re.fullmatch(r"\d+ ms / \d+ ms", page.text_content("#tile-itl") or "")
    for chart in ("ttft", "itl", "speed"):
        assert page.evaluate(CHART_POINTS, chart) > 0, chart
    assert page.evaluate(CANVAS, "chart-ttft") != ttft_canvas
    # A cancel request is a cancellation, not an error.
    assert page.locator("#error-table tbody tr").count() == 0
    assert page.text_content("#tile-cancelled") == "1"
    routes = page.locator("#cost-table tbody td:first-child").all_text_contents()
    assert sorted(routes) == ["chat", "rag"]
    assert page.text_content("#tile-errors") == "0.0%"


def test_dashboard_tells_errors_from_stops_and_disconnects(page: Page, demo: Demo) -> None:
    gateway = demo("itl=20,tokens=200", disconnect_grace_seconds=0)
    page.goto(f"{gateway.base_url}/ui/dashboard.html?window=60&bucket=1")
    page.wait_for_selector("#live[data-state=live]")
    _cancelled_run(gateway)
    # A client that leaves mid-stream: its run is cancelled, as a disconnect.
    with gateway.stream(
        "POST", "/v1/routes/chat/runs", json={"input": "x"}, headers={"Accept": "text/event-stream"}
    ) as response:
        for line in response.iter_lines():
            if line.startswith("event: token"):
                break
    page.wait_for_function("() => document.getElementById('tile-disconnects').textContent === '1'")
    assert page.text_content("#tile-cancelled") == "1"
    assert page.text_content("#tile-errors") == "0.0%"
    assert page.locator("#error-table tbody tr").count() == 0


def test_dashboard_counts_active_streams(page: Page, demo: Demo) -> None:
    gateway = demo("itl=50,tokens=300")
    page.goto(f"{gateway.base_url}/ui/dashboard.html?window=60&bucket=1")
    page.wait_for_selector("#live[data-state=live]")
    assert page.text_content("#tile-active") == "0"
    started = [
        gateway.post("/v1/routes/chat/runs", json={"input": f"story {i}"}).json()["run_id"]
        for i in range(2)
    ]
    page.wait_for_function("() => document.getElementById('tile-active').textContent === '2'")
    for run_id in started:
        gateway.post(f"/v1/runs/{run_id}/cancel")
    page.wait_for_function("() => document.getElementById('tile-active').textContent === '0'")
    assert page.evaluate("() => Math.max(...window.tokenwireDashboard.charts.active.data[1])") == 2


def test_dashboard_screenshot_with_traffic(page: Page, demo: Demo) -> None:
    """Traffic spread over a few seconds so every chart has a line (README screenshot)."""
    gateway = demo("ttft=120,itl=12,jitter=10,tokens=25")
    page.goto(f"{gateway.base_url}/ui/dashboard.html?window=30&bucket=1")
    page.wait_for_selector("#live[data-state=live]")
    with ThreadPoolExecutor(4) as pool:
        for i in range(12):
            route = ("chat", "rag", "agent")[i % 3]
            question = f"Status of order_id=A123, question {i}"
            body: dict[str, Any] = {"input": question}
            if route == "agent":
                body = {"input": {"messages": [{"role": "user", "content": question}]}}
            pool.submit(collect, gateway, route, body)
            if i % 4 == 3:
                pool.submit(_cancelled_run, gateway)
            page.wait_for_timeout(350)
    page.wait_for_function("() => Number(document.getElementById('tile-runs').textContent) >= 15")
    page.wait_for_timeout(1200)
    assert page.evaluate(CHART_POINTS, "ttft") >= 3
    screenshot(page, "dashboard", full_page=True)
