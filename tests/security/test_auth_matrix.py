"""Who may do what, over a real server: 401 without or with bad credentials, 403 for the
wrong role or someone else's run, 429 with Retry-After past a rate limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import collect, text_of
from tokenwire.usage.estimate import heuristic_tokens

KEYS = {"alice": "sk-alice-secret", "bob": "sk-bob-secret", "mod": "sk-mod", "aud": "sk-aud"}
JWT_SECRET = "jwt-test-secret-of-at-least-32-bytes!!"


def _credentials() -> Credentials:
    return Credentials(
        keys=[
            ApiKey("alice", hash_key(KEYS["alice"]), requests_per_minute=1000),
            ApiKey("bob", hash_key(KEYS["bob"]), requests_per_minute=3, concurrent_streams=1),
            ApiKey.from_config({"alias": "mod", "key": KEYS["mod"], "roles": ["moderator"]}),
            ApiKey.from_config({"alias": "aud", "key": KEYS["aud"], "roles": ["auditor"]}),
        ],
        jwt_secret=JWT_SECRET,
    )


@pytest.fixture
def server(mock_url: str, tmp_path: Any) -> Iterator[str]:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=10"))
    app = create_app([route], Settings(data_dir=str(tmp_path)), credentials=_credentials())
    with BackgroundServer(app) as running:
        yield running.url


def _as(url: str, who: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {KEYS[who]}"} if who else {}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def test_no_key_and_a_wrong_key_are_401(server: str) -> None:
    for headers in ({}, {"Authorization": "Bearer sk-nope"}, {"X-API-Key": "nope"}):
        response = httpx.post(f"{server}/v1/routes/chat/runs", json={"input": "x"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{server}/healthz").status_code == 200  # probes stay public


def test_a_client_reads_only_its_own_runs(server: str) -> None:
    with _as(server, "alice") as alice, _as(server, "bob") as bob, _as(server, "mod") as mod:
        run_id = alice.post("/v1/routes/chat/runs", json={"input": "mine"}).json()["run_id"]
        assert alice.get(f"/v1/runs/{run_id}").status_code == 200
        for method, path in [
            ("GET", f"/v1/runs/{run_id}"),
            ("GET", f"/v1/runs/{run_id}/stream"),
            ("POST", f"/v1/runs/{run_id}/cancel"),
        ]:
            assert bob.request(method, path).status_code == 403, path
        # A moderator can watch and halt anyone's run.
        response = mod.post(f"/v1/runs/{run_id}/cancel")
        assert response.status_code == 200, response.text
        snapshot = response.json()
        assert snapshot["status"] == "cancelled"
        assert snapshot["metadata"]["key_alias"] == "alice"


def test_clients_are_refused_moderator_and_auditor_routes(server: str) -> None:
    with _as(server, "alice") as alice, _as(server, "aud") as aud, _as(server, "mod") as mod:
        assert alice.get("/v1/runs").status_code == 403
        assert alice.get("/v1/audit/records").status_code == 403
        assert mod.get("/v1/audit/records").status_code == 403
        assert aud.get("/v1/audit/records").status_code == 200
        assert mod.get("/v1/runs").status_code == 200
        refused = alice.get("/v1/actions")  # what actions did: moderators and auditors
        assert refused.status_code == 403 and "moderator or auditor" in refused.text
        assert aud.get("/v1/actions").status_code == 200
        assert mod.get("/v1/actions").status_code == 200


def test_client_metadata_cannot_spoof_the_key_alias(server: str) -> None:
    with _as(server, "alice") as alice:
        body = {"input": "x", "metadata": {"key_alias": "mod"}}
        events = collect(alice, "chat", body)
        run_id = events[0].data["run_id"]
        assert alice.get(f"/v1/runs/{run_id}").json()["metadata"]["key_alias"] == "alice"


def test_jwt_subjects_and_roles(server: str) -> None:
    def token(**claims: Any) -> str:
        return jwt.encode({"exp": time.time() + 60, **claims}, JWT_SECRET, algorithm="HS256")

    client = {"Authorization": f"Bearer {token(sub='carol')}"}
    response = httpx.post(f"{server}/v1/routes/chat/runs", json={"input": "x"}, headers=client)
    assert response.status_code == 202
    auditor = {"Authorization": f"Bearer {token(sub='eve', roles=['auditor'])}"}
    assert httpx.get(f"{server}/v1/audit/records", headers=auditor).status_code == 200
    expired = {"Authorization": f"Bearer {token(sub='carol', exp=time.time() - 5)}"}
    assert httpx.get(f"{server}/v1/models", headers=expired).status_code == 401
    forged = jwt.encode({"sub": "x", "exp": time.time() + 60}, "wrong" * 8, algorithm="HS256")
    bad = {"Authorization": f"Bearer {forged}"}
    assert httpx.get(f"{server}/v1/models", headers=bad).status_code == 401


def test_rate_limits_are_429_with_retry_after_and_leave_nothing_running(server: str) -> None:
    with _as(server, "bob") as bob, _as(server, "mod") as mod:
        first = bob.post("/v1/routes/chat/runs", json={"input": "1"})
        assert first.status_code == 202
        # One concurrent stream allowed: the second start is refused before it runs.
        second = bob.post("/v1/routes/chat/runs", json={"input": "2"})
        assert second.status_code == 429
        assert int(second.headers["retry-after"]) >= 1
        assert "concurrent" in second.json()["detail"]
        live = [r for r in mod.get("/v1/runs").json()["runs"] if r["key_alias"] == "bob"]
        assert len(live) == 1
        # Three requests per minute: the fourth is refused whatever it asks for.
        third = bob.get(f"/v1/runs/{first.json()['run_id']}")
        assert third.status_code == 200
        fourth = bob.get(f"/v1/runs/{first.json()['run_id']}")
        assert fourth.status_code == 429 and int(fourth.headers["retry-after"]) >= 1
        assert "requests per minute" in fourth.json()["detail"]
        mod.post(f"/v1/runs/{first.json()['run_id']}/cancel")
        # The refused requests started nothing: bob has exactly one run, live or ended.
        every = mod.get("/v1/runs", params={"status": "all"}).json()["runs"]
        assert len([r for r in every if r["key_alias"] == "bob"]) == 1


def test_a_key_budget_truncates_mid_stream_then_refuses_new_runs(
    mock_url: str, tmp_path: Any
) -> None:
    credentials = Credentials(
        keys=[ApiKey("trial", hash_key("sk-trial"), token_budget=12, budget_period="day")]
    )
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=40,itl=2"))
    app = create_app([route], Settings(data_dir=str(tmp_path)), credentials=credentials)
    headers = {"Authorization": "Bearer sk-trial"}
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, headers=headers) as c:
        events = collect(c, "chat", {"input": "spend it"})
        # The key's budget is counted on the model's output, in estimated tokens.
        assert 0 < heuristic_tokens(text_of(events)) <= 12
        assert events[-1].data["status"] == "truncated"
        error = next(e.data for e in events if e.event == "error")
        assert error["code"] == "budget_exceeded"
        deadline = time.monotonic() + 5
        while (
            refused := c.post("/v1/routes/chat/runs", json={"input": "more"})
        ).status_code == 202:
            assert time.monotonic() < deadline, "the spent budget was never charged"
            time.sleep(0.05)
        assert refused.status_code == 429
        assert "daily token budget is spent" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1


def test_websocket_needs_a_key_and_cannot_touch_another_clients_run(server: str) -> None:
    import asyncio
    import json

    import websockets

    with _as(server, "alice") as alice:
        run_id = alice.post("/v1/routes/chat/runs", json={"input": "mine"}).json()["run_id"]
    ws_url = server.replace("http://", "ws://") + "/v1/ws"

    async def scenario() -> list[dict[str, Any]]:
        try:
            async with websockets.connect(ws_url):
                raise AssertionError("a socket without a key was accepted")
        except websockets.InvalidStatus as refused:
            assert refused.response.status_code == 403
        replies = []
        async with websockets.connect(f"{ws_url}?api_key={KEYS['bob']}") as ws:
            for op in ("resume", "cancel"):
                await ws.send(json.dumps({"type": op, "run_id": run_id, "after": 0}))
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        return replies

    for reply in asyncio.run(scenario()):
        assert reply["type"] == "nack" and reply["code"] == "unknown_run", reply
    with _as(server, "alice") as alice:
        assert alice.get(f"/v1/runs/{run_id}").json()["status"] == "running"


def test_rs256_tokens_are_checked_against_the_public_key(mock_url: str, tmp_path: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    credentials = Credentials(jwt_public_key=public_pem, jwt_audience="tokenwire")
    route = Route("chat", demo_model(f"{mock_url}/v1"))
    app = create_app([route], Settings(data_dir=str(tmp_path)), credentials=credentials)

    def bearer(key: Any, **claims: Any) -> dict[str, str]:
        body = {"sub": "svc", "aud": "tokenwire", "exp": time.time() + 60, **claims}
        return {"Authorization": f"Bearer {jwt.encode(body, key, algorithm='RS256')}"}

    with BackgroundServer(app) as server:
        url = f"{server.url}/v1/routes/chat/runs"
        assert httpx.post(url, json={"input": "x"}, headers=bearer(private)).status_code == 202
        assert httpx.post(url, json={"input": "x"}, headers=bearer(other)).status_code == 401
        wrong_audience = bearer(private, aud="someone-else")
        assert httpx.post(url, json={"input": "x"}, headers=wrong_audience).status_code == 401


def test_idempotency_keys_belong_to_their_client(server: str) -> None:
    with _as(server, "alice") as alice, _as(server, "mod") as mod:
        headers = {"Idempotency-Key": "same-key"}
        mine = alice.post("/v1/routes/chat/runs", json={"input": "a"}, headers=headers)
        theirs = mod.post("/v1/routes/chat/runs", json={"input": "b"}, headers=headers)
        assert mine.status_code == theirs.status_code == 202
        assert mine.json()["run_id"] != theirs.json()["run_id"]
        again = alice.post("/v1/routes/chat/runs", json={"input": "a"}, headers=headers)
        assert again.json()["run_id"] == mine.json()["run_id"]


def test_roles_and_limits_hold_when_mounted_under_a_prefix(mock_url: str, tmp_path: Any) -> None:
    """Mounted at /api (scope path /api/v1/..., root_path /api), the role table and the
    run-start limits must still apply: they are written for the app's own paths."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=10"))
    app = create_app([route], Settings(data_dir=str(tmp_path)), credentials=_credentials())
    # A mounted app's lifespan is the parent's to run (it opens the audit store).
    parent = Starlette(routes=[Mount("/api", app=app)], lifespan=app.router.lifespan_context)
    with BackgroundServer(parent) as running:
        api = f"{running.url}/api"
        with _as(api, "alice") as alice, _as(api, "bob") as bob, _as(api, "aud") as aud:
            assert alice.get("/v1/audit/records").status_code == 403
            assert alice.get("/v1/runs").status_code == 403
            assert aud.get("/v1/audit/records").status_code == 200
            run_id = bob.post("/v1/routes/chat/runs", json={"input": "1"}).json()["run_id"]
            assert alice.get(f"/v1/runs/{run_id}").status_code == 403
            second = bob.post("/v1/routes/chat/runs", json={"input": "2"})
            assert second.status_code == 429, second.text
            assert "concurrent" in second.json()["detail"]
            with httpx.Client(base_url=api, timeout=30) as anonymous:
                assert anonymous.get("/healthz").status_code == 200
                assert anonymous.get("/v1/models").status_code == 401
