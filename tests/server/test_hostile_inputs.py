"""Hostile inputs through every protocol: each request is refused with a 4xx, or starts a
run that ends with exactly one ``run.end`` in a terminal status — and every run that started
leaves exactly one audit record.

Hypothesis draws the inputs (bounded and derandomized: the point is the classes of input —
lone surrogates, NUL and bidi controls, integers past 64 bits, NaN, nesting past every
serialiser's limit — not coverage). Bodies are written with Python's ``json`` (``allow_nan``,
escapes for lone surrogates), as a careless or hostile client would.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableLambda
from websockets.sync.client import connect

from tokenwire.demo.routes import demo_model
from tokenwire.events import TERMINAL_STATUSES
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.pipeline.rules import DenyRule
from tokenwire.routes import Route
from tokenwire.testing import iter_sse

Serve = Callable[..., httpx.Client]

EXAMPLES = 30
_TERMINAL = {status.value for status in TERMINAL_STATUSES}

_STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["a\ud800b", "\udfff", "\x00", "\u202eevil", "jane.doe@example.com", "\ufeff", ""]
    ),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 80), max_value=1 << 80),
    st.floats(allow_nan=True, allow_infinity=True),
    _STRINGS,
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_STRINGS, inner, max_size=3),
    max_leaves=8,
)


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


#: How deep a drawn value is buried: not at all, or past orjson's (254) and pydantic's
#: limits (drawn as a number and built in the test, so a failing example prints short).
_DEPTHS = st.sampled_from([0, 0, 0, 253, 300, 900])


async def _echo(value: Any) -> AsyncIterator[Any]:
    yield {"echo": value}  # hands the hostile value back as the run's output


@pytest.fixture(scope="module")
def gateway_url(mock_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tokenwire.config import Settings
    from tokenwire.server.app import create_app
    from tokenwire.server.background import BackgroundServer

    rails = Guardrails(
        guards=(PiiGuard(),),
        input_rules=(DenyRule("jailbreak", "ignore previous instructions"),),
    )
    model = demo_model(f"{mock_server.url}/v1", "tokens=3,ttft=0,itl=0")
    routes = [
        Route("chat", model, guardrails=rails),
        Route("echo", RunnableLambda(_echo)),
    ]
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(auth="none", data_dir=str(data_dir), disconnect_grace_seconds=5)
    with BackgroundServer(create_app(routes, settings)) as server:
        yield server.url


def _body(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _check_stream(response: httpx.Response) -> None:
    events = list(iter_sse(response))
    ends = [e for e in events if e.event == "run.end"]
    assert len(ends) == 1 and events[-1].event == "run.end", [e.event for e in events]
    assert ends[0].data["status"] in _TERMINAL


def _native(client: httpx.Client, route: str, value: Any) -> None:
    headers = {"Accept": "text/event-stream", "Content-Type": "application/json"}
    body = _body({"input": value})
    with client.stream("POST", f"/v1/routes/{route}/runs", content=body, headers=headers) as r:
        if r.status_code == 200:
            _check_stream(r)
        else:
            assert 400 <= r.status_code < 500, (r.status_code, r.read()[:300])


def _langserve(client: httpx.Client, route: str, value: Any) -> None:
    body = _body({"input": value})
    with client.stream("POST", f"/langserve/{route}/stream", content=body) as r:
        if r.status_code == 200:
            events = [e.event for e in iter_sse(r)]
            assert events[-1] in ("end", "error"), events
        else:
            assert 400 <= r.status_code < 500, (r.status_code, r.read()[:300])


def _openai(client: httpx.Client, route: str, value: Any) -> None:
    content = value if isinstance(value, str) else json.dumps(value, allow_nan=True)[:2000]
    body = {"model": route, "messages": [{"role": "user", "content": content}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", content=_body(body)) as r:
        if r.status_code == 200:
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
            assert lines and (lines[-1] == "data: [DONE]" or '"error"' in lines[-1]), lines[-3:]
        else:
            assert 400 <= r.status_code < 500, (r.status_code, r.read()[:300])


def _ai_sdk(client: httpx.Client, route: str, value: Any) -> None:
    text = value if isinstance(value, str) else json.dumps(value, allow_nan=True)[:2000]
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": text}]}
    body = _body({"id": "chat-1", "messages": [message], "trigger": "submit-message"})
    with client.stream("POST", f"/v1/routes/{route}/ui-chat", content=body) as r:
        if r.status_code == 200:
            lines = [line for line in r.iter_lines() if line.startswith("data: ")]
            assert lines and lines[-1] == "data: [DONE]", lines[-3:]
        else:
            assert 400 <= r.status_code < 500, (r.status_code, r.read()[:300])


def _websocket(client: httpx.Client, route: str, value: Any) -> None:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    with connect(url) as socket:
        socket.send(json.dumps({"type": "start", "id": "s", "route": route, "input": value}))
        while True:
            message = json.loads(socket.recv(timeout=15))
            if message.get("type") == "nack":
                assert 400 <= message["status"] < 500, message
                return
            if message.get("type") == "run.end":
                assert message["data"]["status"] in _TERMINAL
                return


PROTOCOLS = [_native, _langserve, _openai, _ai_sdk, _websocket]


def _settle(client: httpx.Client) -> list[dict[str, Any]]:
    """Once nothing runs any more: every run the gateway holds, and the audit records."""
    deadline = time.monotonic() + 60
    while True:
        live = client.get("/v1/runs", params={"status": "running"}).json()["runs"]
        runs = client.get("/v1/runs", params={"status": "all", "limit": 1000}).json()["runs"]
        records: list[dict[str, Any]] = client.get(
            "/v1/audit/records", params={"limit": 1000}
        ).json()["records"]
        if not live and len(records) >= len(runs):
            return records
        assert time.monotonic() < deadline, (len(live), len(runs), len(records))
        time.sleep(0.1)


def test_hostile_inputs_through_every_protocol(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, timeout=30) as client:

        @given(value=_VALUES, depth=_DEPTHS, route=st.sampled_from(["chat", "echo"]))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def each(value: Any, depth: int, route: str) -> None:
            for send in PROTOCOLS:
                send(client, route, _nested(depth, value))

        each()
        records = _settle(client)
        runs = client.get("/v1/runs", params={"status": "all", "limit": 1000}).json()["runs"]
        assert runs, "no hostile input started a run: the test exercised nothing"
        audited = [r["run_id"] for r in records]
        assert sorted(audited) == sorted(r["run_id"] for r in runs)  # one record each
        assert all(r["status"] in _TERMINAL for r in runs)
