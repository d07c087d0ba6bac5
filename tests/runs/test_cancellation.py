"""Cancellation must stop a run even when a library swallows the first CancelledError
(langchain-openai's per-chunk ``asyncio.wait_for`` does on Python 3.11)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda

from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route

Serve = Callable[..., httpx.Client]


async def _stubborn(_: Any) -> AsyncIterator[str]:
    swallowed = False
    for i in range(10_000):
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if swallowed:
                raise
            swallowed = True  # like a wait_for that lost the race
        yield f"t{i} "


def test_a_swallowed_cancellation_is_repeated_until_the_run_stops(serve: Serve) -> None:
    client = serve([Route("stubborn", RunnableLambda(_stubborn), mode="tokens")])
    run_id = client.post("/v1/routes/stubborn/runs", json={"input": "x"}).json()["run_id"]
    time.sleep(0.1)
    snapshot = client.post(f"/v1/runs/{run_id}/cancel").json()
    assert snapshot["status"] == "cancelled"


def test_gateway_turns_off_the_chunk_timeout_that_loses_cancellations(
    serve: Serve, mock_url: str
) -> None:
    model = demo_model(f"{mock_url}/v1", "tokens=400,itl=20")
    model.stream_chunk_timeout = 120.0
    client = serve([Route("chat", model)])
    assert model.stream_chunk_timeout is None
    for _ in range(5):
        run_id = client.post("/v1/routes/chat/runs", json={"input": "x"}).json()["run_id"]
        while not client.get(f"/v1/runs/{run_id}").json()["output"]:
            time.sleep(0.01)
        # A lost cancellation leaves the run "running" when the endpoint stops waiting.
        assert client.post(f"/v1/runs/{run_id}/cancel").json()["status"] == "cancelled"


async def test_a_run_that_stops_itself_ends_blocked_not_cancelled(tmp_path: Any) -> None:
    """An inline guard finds a block while the model finishes without awaiting again: the
    run ends ``blocked`` and its task ends normally (no cancellation left pending)."""
    from tokenwire.config import Settings
    from tokenwire.gateway import Gateway
    from tokenwire.pipeline.findings import Action
    from tokenwire.pipeline.guardrails import Guardrails
    from tokenwire.pipeline.rules import DenyRule

    async def burst(_: Any) -> AsyncIterator[str]:
        for word in ("We ", "love ", "products ", "by ", "acme"):  # found at the drain
            yield word  # never suspends

    rails = Guardrails(guards=(DenyRule("acme", keywords=["acme"], action=Action.BLOCK),))
    route = Route("chat", RunnableLambda(burst), guardrails=rails)
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)))
    async with gateway.lifespan():
        run, _ = await gateway.start_run("chat", "hi")
        assert run.task is not None
        await asyncio.wait_for(asyncio.shield(run.task), 5)
        assert not run.task.cancelled()
        assert run.status.value == "blocked"
        assert "acme" not in run.recorder.text if run.recorder else True


async def test_a_retry_never_shows_text_the_failed_attempt_left_held(tmp_path: Any) -> None:
    """The guard held the failed attempt's text (nothing shown, so the upstream is retried):
    that text is dropped, not released in front of the retry's answer."""
    from tokenwire.config import Settings
    from tokenwire.gateway import Gateway
    from tokenwire.pipeline.guardrails import Guardrails
    from tokenwire.pipeline.pii import PiiGuard
    from tokenwire.reliability.retry import RetryPolicy

    class Unavailable(Exception):
        status_code = 503

    calls: list[int] = []

    async def flaky(_: Any) -> AsyncIterator[str]:
        calls.append(1)
        if len(calls) == 1:
            yield "jane.doe@exam"  # held: an address could still be growing
            raise Unavailable("try again")
        for word in ("Here ", "is ", "the ", "answer."):
            yield word

    rails = Guardrails(guards=(PiiGuard(),))
    retry = RetryPolicy(max_retries=1, base_delay=0.01)
    route = Route("chat", RunnableLambda(flaky), guardrails=rails, retry=retry)
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)))
    async with gateway.lifespan():
        run, _ = await gateway.start_run("chat", "hi")
        assert run.task is not None
        await asyncio.wait_for(asyncio.shield(run.task), 5)
        texts = [e.data["text"] for e in run.log.since(0) if e.type == "token"]
        assert "".join(texts) == "Here is the answer."
        assert run.status.value == "completed" and len(calls) == 2
