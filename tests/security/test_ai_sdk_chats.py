"""AI SDK chat ids belong to their client: another client sending the same chat id starts its
own chat, and can neither knock out the first client's resume nor resume into its run. On
one gateway in memory and on one keeping the chat ids in Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.security.conftest import StartGateway, as_jwt, as_key

PATH = "/v1/routes/chat/ui-chat"


def _chat(chat_id: str) -> dict[str, Any]:
    message = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}
    return {"id": chat_id, "messages": [message], "trigger": "submit-message"}


def _resumed_run(client: httpx.Client, chat_id: str) -> str | None:
    """The run a resume request streams, or None for "no active stream" (204)."""
    with client.stream("GET", f"{PATH}/{chat_id}/stream") as response:
        if response.status_code == 204:
            return None
        assert response.status_code == 200, response.read()
        return response.headers["x-run-id"]


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest, start_gateway: StartGateway) -> str:
    if request.param == "memory":
        return start_gateway()
    redis_url = request.getfixturevalue("redis_url")
    return start_gateway(redis_url=redis_url, redis_prefix=request.getfixturevalue("prefix"))


def test_a_chat_id_reused_by_another_client_is_another_chat(url: str) -> None:
    alice, bob, carol = as_key(url, "alice"), as_key(url, "bob"), as_jwt(url, "alice")
    with alice, bob, carol, alice.stream("POST", PATH, json=_chat("c1")) as mine:
        assert mine.status_code == 200
        with bob.stream("POST", PATH, json=_chat("c1")) as theirs:
            assert theirs.status_code == 200
            assert _resumed_run(alice, "c1") == mine.headers["x-run-id"]
            assert _resumed_run(bob, "c1") == theirs.headers["x-run-id"]
            # A caller who never sent c1 (a JWT subject named like the key, too) has no
            # such chat: nothing of the others' runs is revealed or streamed.
            assert _resumed_run(carol, "c1") is None
