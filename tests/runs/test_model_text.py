"""Text from a model is valid Unicode before it reaches the log: a provider's JSON can hold
lone surrogates (Python's ``json`` keeps them), which every encoder refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from langchain_core.runnables import RunnableLambda

from tokenwire.plain_json import valid_text
from tokenwire.routes import Route
from tokenwire.testing import collect, text_of

Serve = Callable[..., httpx.Client]


async def _split_emoji(_: Any) -> AsyncIterator[str]:
    for token in ("ok ", "a\ud800b", " \ud83d\ude00", " end"):
        yield token


def test_a_token_with_a_lone_surrogate_streams_escaped(serve: Serve) -> None:
    client = serve([Route("odd", RunnableLambda(_split_emoji), mode="tokens")])
    events = collect(client, "odd", {"input": "x"})
    assert [e.event for e in events].count("run.end") == 1
    assert events[-1].data["status"] == "completed"
    assert text_of(events) == "ok a\\ud800b \U0001f600 end"


def test_valid_text_keeps_valid_text_as_it_is() -> None:
    for text in ("plain", "héllo wörld", "\U0001f600", ""):
        assert valid_text(text) is text
    assert valid_text("\udfff") == "\\udfff"
