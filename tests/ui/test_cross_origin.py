"""A front end on another origin streams from the gateway with auth on, in Chromium: with
``fetch`` (the key in a header) and with ``EventSource`` (a stream token in the URL), with
no CORS error, and the EventSource's reconnects — the gateway closes each connection after
``max_stream_seconds`` — resume exactly (``Last-Event-ID``, sent after a preflight)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.responses import FileResponse
from starlette.routing import Route as Endpoint

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import parse_events, text_of

if TYPE_CHECKING:
    from playwright.sync_api import Page

PAGE = Path(__file__).with_name("cross_origin.html")
KEY = "sk-web-client"
KEYS = Credentials([ApiKey.from_config({"alias": "web", "key": KEY})])


def _page_site() -> Starlette:
    async def index(request: Any) -> FileResponse:
        return FileResponse(PAGE, media_type="text/html")

    return Starlette(routes=[Endpoint("/", index)])


@pytest.fixture
def sites(mock_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(the page's origin, the gateway's URL): two ports of 127.0.0.1, two origins."""
    with BackgroundServer(_page_site()) as site:
        settings = Settings(
            data_dir=str(tmp_path),
            cors_origins=(site.url,),
            stream_token_secret=SecretStr("a-stream-token-secret-of-32-bytes!!"),
            max_stream_seconds=1.5,  # drops every EventSource connection mid-stream
            retry_ms=50,
        )
        routes = [
            Route("quick", demo_model(f"{mock_url}/v1", "tokens=20,itl=1")),
            Route("slow", demo_model(f"{mock_url}/v1", "tokens=100,itl=40")),
        ]
        with BackgroundServer(create_app(routes, settings, credentials=KEYS)) as gateway:
            yield site.url, gateway.url


@pytest.fixture
def client_page(sites: tuple[str, str], new_page: Callable[[], Page]) -> tuple[Page, list[str]]:
    """The page, opened from its own origin, and the console's messages."""
    origin, gateway = sites
    page = new_page()
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(f"{origin}/?gateway={gateway}&key={KEY}")
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("location.origin") != gateway
    return page, messages


def _output(gateway: str, run_id: str) -> str:
    snapshot = httpx.get(f"{gateway}/v1/runs/{run_id}", headers={"X-API-Key": KEY}).json()
    output: str = snapshot["output"]
    return output


def test_fetch_streams_and_reads_the_run_id(
    sites: tuple[str, str], client_page: tuple[Page, list[str]]
) -> None:
    page, messages = client_page
    result = page.evaluate("streamWithFetch('quick')")
    assert result["status"] == 200
    assert result["runId"]
    events = parse_events(result["body"].encode())
    assert events[0].event == "run.start" and events[-1].event == "run.end"
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    text = text_of(events)
    assert len(text.split()) == 20
    assert text == _output(sites[1], result["runId"])
    assert not [m for m in messages if "CORS" in m], messages


def test_event_source_with_a_stream_token_resumes_exactly(
    sites: tuple[str, str], client_page: tuple[Page, list[str]]
) -> None:
    page, messages = client_page
    result = page.evaluate("streamWithEventSource('slow')")
    assert result["opens"] >= 2, result["opens"]  # it was dropped, and reconnected
    ids = [event["id"] for event in result["events"]]
    assert ids == list(range(1, len(ids) + 1)), ids  # every event exactly once, in order
    events = result["events"]
    assert events[0]["type"] == "run.start" and events[-1]["type"] == "run.end"
    assert events[-1]["data"]["status"] == "completed"
    text = "".join(e["data"]["text"] for e in events if e["type"] == "token")
    assert len(text.split()) == 100
    assert text == _output(sites[1], result["runId"]) == events[-1]["data"]["output"]
    assert not [m for m in messages if "CORS" in m], messages
