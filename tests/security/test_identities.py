"""A JWT subject and an API key alias are different callers, even when they are spelled
alike: a token with ``sub: alice`` is not the key ``alice`` — not for run ownership, not for
idempotency keys, not for the key's rate limits — on every way of reaching a run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from tests.security.conftest import JWT_SECRET, StartGateway, as_jwt, as_key, token
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.security.principal import Principal, Role


def _start(client: httpx.Client, text: str = "x", **headers: str) -> str:
    response = client.post("/v1/routes/chat/runs", json={"input": text}, headers=headers)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def _ws_replies(url: str, secret: str, run_id: str) -> list[dict[str, Any]]:
    ws_url = url.replace("http://", "ws://") + f"/v1/ws?token={secret}"

    async def scenario() -> list[dict[str, Any]]:
        replies = []
        async with websockets.connect(ws_url) as ws:
            for op in ("resume", "cancel"):
                await ws.send(json.dumps({"type": op, "run_id": run_id, "after": 0}))
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return replies

    return asyncio.run(scenario())


@pytest.mark.parametrize("owner_kind", ["key", "jwt"])
def test_a_subject_and_a_key_of_one_name_cannot_touch_each_others_runs(
    start_gateway: StartGateway, owner_kind: str
) -> None:
    url = start_gateway()
    key, subject = as_key(url, "alice"), as_jwt(url, "alice")
    owner, other = (key, subject) if owner_kind == "key" else (subject, key)
    other_secret = other.headers["authorization"].removeprefix("Bearer ")
    with key, subject:
        run_id = _start(owner)
        for method, path in [
            ("GET", f"/v1/runs/{run_id}"),
            ("GET", f"/v1/runs/{run_id}/stream"),
            ("POST", f"/v1/runs/{run_id}/cancel"),
        ]:
            assert other.request(method, path).status_code == 403, path
        for reply in _ws_replies(url, other_secret, run_id):
            assert reply["type"] == "nack" and reply["code"] == "unknown_run", reply
        snapshot = owner.get(f"/v1/runs/{run_id}").json()
        assert snapshot["status"] == "running"
        # What audit records and metrics show says which kind of caller it was.
        expected = "alice" if owner_kind == "key" else "jwt:alice"
        assert snapshot["metadata"]["key_alias"] == expected
        owner.post(f"/v1/runs/{run_id}/cancel")


def test_idempotency_keys_of_a_subject_are_not_the_keys_of_an_api_key(
    start_gateway: StartGateway,
) -> None:
    url = start_gateway()
    with as_key(url, "alice") as key, as_jwt(url, "alice") as subject:
        mine = _start(key, "same body", **{"Idempotency-Key": "k-1"})
        theirs = _start(subject, "same body", **{"Idempotency-Key": "k-1"})
        assert theirs != mine
        for client, run_id in ((key, mine), (subject, theirs)):
            client.post(f"/v1/runs/{run_id}/cancel")


def test_a_subject_spends_nothing_of_the_key_of_the_same_name(start_gateway: StartGateway) -> None:
    url = start_gateway(limits={"alice": {"requests_per_minute": 2, "concurrent_streams": 1}})
    with as_key(url, "alice") as key, as_jwt(url, "alice") as subject:
        long_run = _start(subject)  # no slot of the key's one concurrent stream
        for _ in range(3):
            assert subject.get("/v1/models").status_code == 200
        # The key still has its two requests and its one stream.
        run_id = _start(key)
        assert key.post(f"/v1/runs/{run_id}/cancel").status_code == 200
        assert key.get("/v1/models").status_code == 429
        subject.post(f"/v1/runs/{long_run}/cancel")


def test_key_aliases_cannot_take_a_name_of_another_kind_of_caller() -> None:
    for alias in ("jwt:alice", "anonymous", ""):
        with pytest.raises(ValueError, match="alias"):
            ApiKey(alias, "0" * 64)


def test_the_principal_of_a_token_is_namespaced() -> None:
    principal = Credentials(jwt_secret=JWT_SECRET).authenticate(token("alice"))
    assert principal == Principal("jwt:alice", frozenset({Role.CLIENT}))
