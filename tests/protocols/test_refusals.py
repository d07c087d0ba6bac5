"""Every refusal of a run start answers with its documented status on every front end, in
that front end's own format — spelled in one place (``protocols/refusals.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tokenwire import errors
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.errors import (
    ClusterUnavailable,
    IdempotencyConflict,
    InvalidRequest,
    RateLimited,
    RegistryFull,
    RunRefused,
    ThreadBusy,
    UnknownRoute,
    UnknownThread,
)
from tokenwire.gateway import Gateway, Hooks
from tokenwire.protocols.refusals import (
    ai_sdk_refusal,
    langserve_refusal,
    native_refusal,
    openai_refusal,
    websocket_refusal,
)
from tokenwire.routes import Route
from tokenwire.security.slots import Slot
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

#: One of each refusal, with the status errors.py documents for it.
REFUSALS: dict[type[RunRefused], tuple[RunRefused, int]] = {
    UnknownRoute: (UnknownRoute("chat"), 404),
    InvalidRequest: (InvalidRequest(["input: Field required", "config: bad"]), 422),
    IdempotencyConflict: (IdempotencyConflict("Idempotency-Key was already used"), 422),
    RegistryFull: (RegistryFull(2), 503),
    ClusterUnavailable: (ClusterUnavailable("Redis is unreachable: refused"), 503),
    RateLimited: (RateLimited("more than 1 concurrent streams", 7), 429),
    UnknownThread: (UnknownThread("t-1"), 404),
    ThreadBusy: (ThreadBusy("t-1", "r-1"), 409),
}
#: The statuses OpenAI answers with instead (422 is not in its vocabulary).
OPENAI = {422: 400}

CHAT = [{"role": "user", "content": "hi"}]
UI_CHAT = {"id": "c1", "messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
#: Every HTTP front end's start request: (path, body, OpenAI's format?).
STARTS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "native": ("/v1/routes/chat/runs", {"input": "hi"}, False),
    "native stream": ("/v1/routes/chat/runs#stream", {"input": "hi"}, False),
    "openai": ("/v1/chat/completions", {"model": "chat", "messages": CHAT}, True),
    "openai stream": (
        "/v1/chat/completions",
        {"model": "chat", "messages": CHAT, "stream": True},
        True,
    ),
    "langserve invoke": ("/langserve/chat/invoke", {"input": "hi"}, False),
    "langserve batch": ("/langserve/chat/batch", {"inputs": ["hi"]}, False),
    "langserve stream": ("/langserve/chat/stream", {"input": "hi"}, False),
    "ai sdk": ("/v1/routes/chat/ui-chat", UI_CHAT, False),
}


def _all_refusals(cls: type[RunRefused] = RunRefused) -> set[type[RunRefused]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_refusals(sub)}
    return found


def test_every_refusal_in_the_tree_has_a_documented_status_here() -> None:
    concrete = {c for c in _all_refusals() if c.__module__ == errors.__name__}
    concrete -= {errors.Overloaded}  # raised only as one of its kinds
    assert concrete == set(REFUSALS)


@pytest.mark.parametrize("kind", REFUSALS, ids=lambda kind: kind.__name__)
def test_each_format_answers_with_the_documented_status(kind: type[RunRefused]) -> None:
    refused, status = REFUSALS[kind]
    assert refused.status == status
    for spelled in (native_refusal, ai_sdk_refusal, langserve_refusal):
        assert spelled(refused).status == status
    assert openai_refusal(refused).status == OPENAI.get(status, status)
    nack = json.loads(websocket_refusal("start", "s1", refused))
    assert (nack["type"], nack["status"], nack["code"]) == ("nack", status, refused.code)


def test_only_waiting_refusals_say_when_to_retry() -> None:
    for refused, status in REFUSALS.values():
        header = native_refusal(refused).headers.get("Retry-After")
        assert (header is not None) == (status in (429, 503)), refused
    assert native_refusal(REFUSALS[RateLimited][0]).headers == {"Retry-After": "7"}
    assert openai_refusal(REFUSALS[RegistryFull][0]).headers == {"Retry-After": "1"}


def test_a_client_is_told_the_detail_not_what_the_log_says() -> None:
    refused = REFUSALS[ClusterUnavailable][0]
    for spelled in (native_refusal, ai_sdk_refusal, langserve_refusal):
        assert "Redis" not in json.dumps(spelled(refused).body)
    assert "Redis" not in websocket_refusal("resume", 1, refused)
    assert "Redis" in str(refused)


class _Refusing:
    """An admission that refuses every start with ``refused``."""

    refused: RunRefused = RateLimited("no", 1)

    async def admit(self, owner: str) -> Slot:
        raise self.refused


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _Refusing]]:
    """A live gateway whose every start is refused with ``admission.refused`` (the model
    is never reached)."""
    admission = _Refusing()
    settings = Settings(auth="none", data_dir=str(tmp_path_factory.mktemp("data")))
    route = Route("chat", demo_model("http://127.0.0.1:9/v1"))
    gateway = Gateway([route], settings, hooks=Hooks(admission=admission))
    with BackgroundServer(create_app(gateway)) as server:
        yield server.url, admission


@pytest.mark.parametrize("kind", REFUSALS, ids=lambda kind: kind.__name__)
def test_every_front_end_refuses_a_start_with_the_documented_status(
    refusing: tuple[str, _Refusing], kind: type[RunRefused]
) -> None:
    url, admission = refusing
    admission.refused, status = REFUSALS[kind]
    retry_after = admission.refused.retry_after
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, (path, body, openai) in STARTS.items():
            path, _, stream = path.partition("#")
            accept = "text/event-stream" if stream else "application/json"
            response = client.post(path, json=body, headers={"Accept": accept})
            assert response.status_code == (OPENAI.get(status, status) if openai else status)
            assert response.headers.get("retry-after") == (
                None if retry_after is None else str(retry_after)
            ), name
    with connect(url.replace("http://", "ws://") + "/v1/ws") as socket:
        socket.send(json.dumps({"type": "start", "id": "s1", "route": "chat", "input": "hi"}))
        nack = json.loads(socket.recv(timeout=10))
    assert (nack["status"], nack["code"], nack.get("retry_after")) == (
        status,
        admission.refused.code,
        retry_after,
    )


#: The exact bytes each front end answered a refused start with before the mapping moved to
#: protocols/refusals.py; clients (the OpenAI and LangServe SDKs, ``useChat``) parse them.
EXACT = {
    ("native", InvalidRequest): (
        "application/problem+json",
        b'{"type":"about:blank","title":"Invalid run request","status":422,'
        b'"detail":"input: Field required; config: bad",'
        b'"errors":["input: Field required","config: bad"]}',
    ),
    ("native", RegistryFull): (
        "application/problem+json",
        b'{"type":"about:blank","title":"Too many live runs","status":503,'
        b'"detail":"too many live runs: 2 runs are live"}',
    ),
    ("openai", UnknownRoute): (
        "application/json",
        b'{"error":{"message":"no route named \'chat\'","type":"invalid_request_error",'
        b'"param":"model","code":"model_not_found"}}',
    ),
    ("openai", RateLimited): (
        "application/json",
        b'{"error":{"message":"more than 1 concurrent streams","type":"rate_limit_error",'
        b'"param":null,"code":"rate_limit_exceeded"}}',
    ),
    ("langserve invoke", InvalidRequest): (
        "application/json",
        b'{"detail":["input: Field required","config: bad"]}',
    ),
    ("ai sdk", IdempotencyConflict): (
        "application/problem+json",
        b'{"type":"about:blank","title":"Idempotency-Key reused","status":422,'
        b'"detail":"Idempotency-Key was already used","errors":[]}',
    ),
    ("ai sdk", InvalidRequest): (
        "application/problem+json",
        b'{"type":"about:blank","title":"Invalid chat request","status":422,'
        b'"detail":"input: Field required; config: bad",'
        b'"errors":["input: Field required","config: bad"]}',
    ),
}


@pytest.mark.parametrize(("front_end", "kind"), EXACT, ids=lambda x: getattr(x, "__name__", x))
def test_refusal_bodies_are_what_each_front_ends_clients_parse(
    refusing: tuple[str, _Refusing], front_end: str, kind: type[RunRefused]
) -> None:
    url, admission = refusing
    admission.refused = REFUSALS[kind][0]
    path, body, _ = STARTS[front_end]
    response = httpx.post(url + path, json=body, timeout=30)
    assert (response.headers["content-type"], response.content) == EXACT[front_end, kind]


def test_a_websocket_nack_says_what_http_says() -> None:
    nack = websocket_refusal("start", "s1", REFUSALS[RegistryFull][0])
    assert nack == (
        '{"type":"nack","op":"start","id":"s1","status":503,"code":"overloaded",'
        '"retry_after":1,"message":"too many live runs: 2 runs are live"}'
    )
