"""What a browser on another origin needs, over a real server: CORS preflights answered
without credentials (and never a run), CORS headers on answers, and stream tokens on a
run's stream — and refused everywhere else."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tokenwire.config import Settings
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import ScriptedChatModel, iter_sse, text_of, text_turn, wait_for_status

PAGE = "http://127.0.0.1:5173"
SECRET = "a-stream-token-secret-of-32-bytes!!"
KEYS = {"alice": "sk-alice", "bob": "sk-bob", "mod": "sk-mod"}
ANSWER = ("Hello", " from", " the", " gateway")

Start = Callable[..., str]


def credentials(*aliases: str) -> Credentials:
    roles = {"mod": ["moderator"]}
    return Credentials(
        keys=[
            ApiKey.from_config({"alias": a, "key": KEYS[a], "roles": roles.get(a, ["client"])})
            for a in aliases or tuple(KEYS)
        ]
    )


@pytest.fixture
def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Start]:
    """``start(credentials=..., **settings)`` → the URL of a live gateway allowing ``PAGE``."""
    servers: list[BackgroundServer] = []

    def run(keys: Credentials | None = None, **settings: Any) -> str:
        settings.setdefault("cors_origins", (PAGE,))
        settings.setdefault("stream_token_secret", SecretStr(SECRET))
        settings.setdefault("data_dir", str(tmp_path_factory.mktemp("data")))
        route = Route("chat", ScriptedChatModel(turns=[text_turn(*ANSWER)]))
        app = create_app([route], Settings(**settings), credentials=keys or credentials())
        servers.append(BackgroundServer(app).start())
        return servers[-1].url

    yield run
    for server in servers:
        server.stop()


def as_key(url: str, alias: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"X-API-Key": KEYS[alias]}, timeout=30)


def preflight(url: str, path: str, origin: str = PAGE, **headers: str) -> httpx.Response:
    return httpx.options(
        f"{url}{path}",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST", **headers},
    )


def background_run(client: httpx.Client) -> str:
    response = client.post("/v1/routes/chat/runs", json={"input": "hi"})
    assert response.status_code == 202, response.text
    run_id: str = response.json()["run_id"]
    wait_for_status(client, run_id, "completed")
    return run_id


def test_a_preflight_needs_no_key_and_starts_nothing(start: Start) -> None:
    url = start()
    asked = "authorization, content-type, x-api-key, last-event-id, idempotency-key"
    response = preflight(url, "/v1/routes/chat/runs", **{"Access-Control-Request-Headers": asked})
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == PAGE
    assert response.headers["access-control-allow-credentials"] == "true"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert all(name.strip() in allowed for name in asked.split(","))
    with as_key(url, "mod") as mod:
        assert mod.get("/v1/runs").json()["runs"] == []  # no run, no refusal counted


def test_another_origin_gets_no_cors_headers(start: Start) -> None:
    url = start()
    response = preflight(url, "/v1/routes/chat/runs", origin="http://127.0.0.1:9999")
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    with as_key(url, "alice") as alice:
        answer = alice.get("/healthz", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_answers_name_the_run_to_the_page(start: Start) -> None:
    url = start()
    with (
        as_key(url, "alice") as alice,
        alice.stream(
            "POST",
            "/v1/routes/chat/runs",
            json={"input": "hi"},
            headers={"Origin": PAGE, "Accept": "text/event-stream"},
        ) as response,
    ):
        assert response.headers["access-control-allow-origin"] == PAGE
        exposed = response.headers["access-control-expose-headers"].lower()
        assert "x-run-id" in exposed and "retry-after" in exposed
        assert response.headers["x-run-id"]
        assert text_of(iter_sse(response)) == "".join(ANSWER)
    # A refusal too, so the page can read why.
    refused = httpx.post(f"{url}/v1/routes/chat/runs", json={}, headers={"Origin": PAGE})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == PAGE


def test_without_cors_origins_there_is_no_cors(start: Start) -> None:
    url = start(cors_origins=())
    response = preflight(url, "/v1/routes/chat/runs")
    assert response.status_code in (401, 405)
    assert "access-control-allow-origin" not in response.headers


def test_a_stream_token_opens_its_runs_stream_without_a_key(start: Start) -> None:
    url = start()
    with as_key(url, "alice") as alice:
        run_id = background_run(alice)
        issued = alice.post(f"/v1/runs/{run_id}/stream-token")
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert set(body) == {"token", "expires_at", "url"}
    assert issued.headers["cache-control"] == "no-store"
    assert body["url"] == f"{url}/v1/runs/{run_id}/stream?token={body['token']}"
    with httpx.stream("GET", body["url"], headers={"Last-Event-ID": "2"}) as response:
        assert response.status_code == 200
        events = list(iter_sse(response))
    assert events[0].id == 3
    assert text_of(events) == "".join(ANSWER[1:])


def test_only_who_may_read_the_run_gets_a_token(start: Start) -> None:
    url = start()
    with as_key(url, "alice") as alice, as_key(url, "bob") as bob, as_key(url, "mod") as mod:
        run_id = background_run(alice)
        assert bob.post(f"/v1/runs/{run_id}/stream-token").status_code == 403
        assert httpx.post(f"{url}/v1/runs/{run_id}/stream-token").status_code == 401
        assert alice.post("/v1/runs/nope/stream-token").status_code == 404
        watched = mod.post(f"/v1/runs/{run_id}/stream-token").json()["url"]
    assert httpx.get(watched).status_code == 200


def refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    detail: str = response.json()["detail"]
    return detail


def test_a_stream_token_is_refused_anywhere_else(start: Start) -> None:
    url = start()
    with as_key(url, "alice") as alice:
        first, second = background_run(alice), background_run(alice)
        token = alice.post(f"/v1/runs/{first}/stream-token").json()["token"]
    assert "another run" in refusal(httpx.get(f"{url}/v1/runs/{second}/stream?token={token}"))
    for method, path in [("GET", f"/v1/runs/{first}"), ("POST", f"/v1/runs/{first}/cancel")]:
        answer = httpx.request(method, f"{url}{path}?token={token}")
        assert "accepted only on its run's stream" in refusal(answer)
    altered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert "signature" in refusal(httpx.get(f"{url}/v1/runs/{first}/stream?token={altered}"))


def test_a_stream_token_dies_with_its_key(start: Start) -> None:
    """Replicas (or a restart) with the same secret verify each other's tokens — until the
    key the token was issued to is gone from their configuration."""
    url = start()
    with as_key(url, "alice") as alice:
        run_id = background_run(alice)
        token = alice.post(f"/v1/runs/{run_id}/stream-token").json()["token"]
    same_keys, without_alice = start(), start(credentials("bob", "mod"))
    path = f"/v1/runs/{run_id}/stream?token={token}"
    assert httpx.get(f"{same_keys}{path}").status_code == 404  # verified; the run is not there
    assert "is gone" in refusal(httpx.get(f"{without_alice}{path}"))


def test_replicas_without_a_secret_issue_no_tokens(
    start: Start, redis_url: str, prefix: str
) -> None:
    url = start(
        stream_token_secret=SecretStr(""), redis_url=SecretStr(redis_url), redis_prefix=prefix
    )
    with as_key(url, "alice") as alice:
        run_id = background_run(alice)
        answer = alice.post(f"/v1/runs/{run_id}/stream-token")
    assert answer.status_code == 503
    assert "stream_token_secret" in answer.json()["detail"]
