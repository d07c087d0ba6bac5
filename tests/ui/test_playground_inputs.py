"""The playground in Chromium: an LCEL prompt chain streams from the message, other input
schemas get a form, a model's tool calls are shown, and the thumbs post feedback."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.testing import ScriptedChatModel, poll_until, text_turn, tool_call_turn

from .pages import last_answer, open_playground, run_id, send, wait_until_ended

if TYPE_CHECKING:
    from playwright.sync_api import Page

Serve = Callable[..., httpx.Client]


def _routes(mock_url: str) -> list[Route]:
    model = demo_model(f"{mock_url}/v1", "itl=30,tokens=30")
    question = ChatPromptTemplate.from_template("Answer in one line: {question}")
    two_fields = ChatPromptTemplate.from_template("Say {topic} in {lang}")
    weather = ScriptedChatModel(turns=[tool_call_turn("get_weather", '{"city": "Paris"}', "c1")])
    return [
        Route("qa", question | model | StrOutputParser()),
        Route("translate", two_fields | ScriptedChatModel(turns=[text_turn("Bonjour")])),
        Route("weather", weather),
        Route("plain", ScriptedChatModel(turns=[text_turn("Hello", " you")] * 5)),
    ]


def test_an_lcel_prompt_chain_streams_from_the_message(
    page: Page, serve: Serve, mock_url: str
) -> None:
    gateway = serve(_routes(mock_url))
    listed = {r["name"]: r for r in gateway.get("/v1/routes").json()["routes"]}
    assert (listed["qa"]["input"], listed["qa"]["field"]) == ("field", "question")
    open_playground(page, str(gateway.base_url), "qa")
    send(page, "What is streaming?")
    lengths: list[int] = []
    while (sample := last_answer(page)) is None or sample[0] == "running":
        if sample is not None:
            lengths.append(sample[1])
        page.wait_for_timeout(40)
    assert sample[0] == "completed", sample
    assert sum(1 for a, b in itertools.pairwise(lengths) if b > a) >= 3, lengths
    snapshot = gateway.get(f"/v1/runs/{run_id(page)}").json()
    assert snapshot["status"] == "completed" and snapshot["output"]
    assert " ".join(last_answer(page)[2].split()) == " ".join(snapshot["output"].split())


def test_another_input_schema_gets_a_form(page: Page, serve: Serve, mock_url: str) -> None:
    gateway = serve(_routes(mock_url))
    open_playground(page, str(gateway.base_url), "translate")
    assert page.is_visible("#input-form") and page.is_hidden("#prompt")
    page.fill("#field-topic", "hello")
    page.fill("#field-lang", "French")
    page.click("#send")
    assert wait_until_ended(page) == "completed"
    assert last_answer(page)[2] == "Bonjour"
    shown = page.text_content(".msg.user >> nth=-1") or ""
    assert shown == '{"lang":"French","topic":"hello"}' or shown == (
        '{"topic":"hello","lang":"French"}'
    )
    # Back on a message route, the prompt returns.
    page.select_option("#route", "plain")
    assert page.is_hidden("#input-form") and page.is_visible("#prompt")


def test_a_models_tool_calls_are_shown(page: Page, serve: Serve, mock_url: str) -> None:
    gateway = serve(_routes(mock_url))
    open_playground(page, str(gateway.base_url), "weather")
    send(page, "Weather in Paris?")
    assert wait_until_ended(page) == "completed"
    call = page.locator(".msg.assistant .tool-calls .tool-call").first
    assert call.get_attribute("data-call-id") == "c1"
    assert call.locator(".tool-name").text_content() == "get_weather"
    assert '"city":"Paris"' in (call.locator(".tool-args").text_content() or "").replace(" ", "")
    assert page.is_hidden(".msg.assistant .output")


def test_thumbs_post_the_users_feedback(page: Page, serve: Serve, mock_url: str) -> None:
    gateway = serve(_routes(mock_url))
    open_playground(page, str(gateway.base_url), "plain")
    send(page, "hi")
    assert wait_until_ended(page) == "completed"
    run = run_id(page)
    page.click(".msg.assistant .thumb.down")
    page.wait_for_selector(".msg.assistant .feedback[data-given='0']")
    assert page.get_attribute(".thumb.down", "aria-pressed") == "true"
    assert page.get_attribute(".thumb.up", "aria-pressed") == "false"
    assert page.is_disabled(".thumb.up") and page.is_disabled(".thumb.down")

    def feedback() -> list[dict[str, Any]] | None:
        found = gateway.get("/v1/audit/records", params={"run_id": run}).json()["records"]
        given = [r for r in found if r.get("kind") == "feedback"]
        return given or None

    [entry] = poll_until(feedback, timeout=10)
    assert (entry["score"], entry["route"]) == (0.0, "plain")
