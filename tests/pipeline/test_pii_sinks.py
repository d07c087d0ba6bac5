"""No e-mail, card or phone number leaves a PII-guarded route in clear, whichever way it
leaves: every protocol's bytes, run snapshots, the audit trail (API, database rows and
export), the JSONL and OTLP exporters, LangSmith traces and log lines.

The route is a real LangChain agent (``create_agent``) over a scripted model whose tool call
arguments and answer stream the formats split across chunks, and a real tool whose output
repeats them; every sink is a real one on 127.0.0.1 (uvicorn, SQLite, an OTLP receiver, a
LangSmith endpoint speaking the client's multipart/zstd batches).
"""

from __future__ import annotations

import gzip
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zstandard
from langchain.agents import create_agent
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute
from websockets.sync.client import connect

from tests.telemetry.langsmith_endpoint import langsmith_endpoint
from tokenwire.config import Settings
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.server.cli import main as cli
from tokenwire.testing import ScriptedChatModel, parse_events, rejoin, text_turn

EMAIL, PHONE, CARD, NATIONAL = (
    "jöhn.doe@example.com",
    "+14155550134",
    "4111.1111.1111.1111",
    "4155550134",
)
OTHER_EMAIL = "jane.doe@example.com"
SECRETS = (EMAIL, PHONE, CARD, NATIONAL, OTHER_EMAIL, "doe@example", "4111.1111")
USER = f"I am {OTHER_EMAIL}, call {NATIONAL}"
ARGS = json.dumps({"query": f"{EMAIL} {PHONE}"}, ensure_ascii=False)
ANSWER = f"Found {EMAIL}: card {CARD}, phone {PHONE} or {NATIONAL}."
MASKED_ANSWER = "Found [EMAIL]: card [CARD], phone [PHONE] or [PHONE]."


@tool
def lookup_account(query: str) -> str:
    """Find the account matching a query."""
    return f"account of {query}: card {CARD}, phone {NATIONAL}"


@tool
def broken_lookup(query: str) -> str:
    """Find the account matching a query (and fail)."""
    raise ValueError(f"no account for {query}")


def _agent(tool_name: str = "lookup_account") -> Any:
    """Each run: a tool call whose JSON arguments arrive in 7-character pieces, then the
    answer in 3-character chunks."""
    pieces = [ARGS[i : i + 7] for i in range(0, len(ARGS), 7)]
    call = [
        AIMessageChunk(
            content="",
            tool_call_chunks=[
                {
                    "name": tool_name if i == 0 else None,
                    "args": piece,
                    "id": "call_1" if i == 0 else None,
                    "index": 0,
                }
            ],
        )
        for i, piece in enumerate(pieces)
    ]
    answer = text_turn(*[ANSWER[i : i + 3] for i in range(0, len(ANSWER), 3)])
    tools = [lookup_account if tool_name == "lookup_account" else broken_lookup]
    return create_agent(ScriptedChatModel(turns=[call, answer]), tools)


def _leaks(text: str) -> list[str]:
    """The secrets ``text`` holds, as they are or JSON-escaped."""
    return [s for s in SECRETS if s in text or json.dumps(s)[1:-1] in text]


def _masks(text: str) -> set[str]:
    return {m for m in ("[EMAIL]", "[PHONE]", "[CARD]") if m in text}


# -- the sinks outside the gateway ------------------------------------------------------------
def _recorder() -> tuple[Starlette, list[bytes]]:
    """An HTTP endpoint keeping every request body, decompressed."""
    bodies: list[bytes] = []

    async def receive(request: Request) -> Response:
        body = await request.body()
        encoding = request.headers.get("content-encoding")
        if encoding == "zstd":
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        bodies.append(body)
        if request.url.path.startswith("/v1/"):  # OTLP/HTTP
            return Response(b"", media_type="application/x-protobuf")
        return JSONResponse({})

    methods = ["GET", "POST", "PATCH", "PUT"]
    return Starlette(routes=[HttpRoute("/{path:path}", receive, methods=methods)]), bodies


@pytest.fixture
def langsmith_bodies(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """LangSmith tracing on, to a loopback endpoint: the bodies the client sent it."""
    with langsmith_endpoint(monkeypatch) as endpoint:
        yield endpoint.bodies


def _wait_for(bodies: list[bytes], needle: bytes) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = b"".join(bodies)
        if needle in text:
            return text.decode(errors="replace")
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never arrived")


# -- one run per protocol: (run id, every byte the client received) ---------------------------
Protocol = Callable[[httpx.Client], tuple[str, str]]
AGENT_INPUT = {"messages": [{"role": "user", "content": USER}]}


def _native(client: httpx.Client) -> tuple[str, str]:
    body = {"input": AGENT_INPUT, "metadata": {"contact": OTHER_EMAIL}}
    headers = {"accept": "text/event-stream"}
    response = client.post("/v1/routes/pii/runs", json=body, headers=headers)
    return response.headers["x-run-id"], response.text


def _websocket(client: httpx.Client) -> tuple[str, str]:
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws"
    received, run_id = [], ""
    with connect(url) as socket:
        socket.send(json.dumps({"type": "start", "route": "pii", "input": AGENT_INPUT}))
        while True:
            raw = socket.recv(timeout=10)
            received.append(str(raw))
            message = json.loads(raw)
            if message["type"] == "ack":
                run_id = message["run_id"]
            if message["type"] == "run.end":
                return run_id, "\n".join(received)


def _openai(stream: bool) -> Protocol:
    def run(client: httpx.Client) -> tuple[str, str]:
        messages = [{"role": "user", "content": USER}]
        body = {"model": "pii", "messages": messages, "stream": stream}
        response = client.post("/v1/chat/completions", json=body)
        return response.headers["x-run-id"], response.text

    return run


def _langserve(endpoint: str) -> Protocol:
    def run(client: httpx.Client) -> tuple[str, str]:
        body: dict[str, Any] = {"input": AGENT_INPUT}
        if endpoint == "stream_events":
            body["version"] = "v2"
        response = client.post(f"/langserve/pii/{endpoint}", json=body)
        if endpoint == "invoke":
            return uuid.UUID(response.json()["metadata"]["run_id"]).hex, response.text
        return response.headers["x-run-id"], response.text

    return run


def _ai_sdk(client: httpx.Client) -> tuple[str, str]:
    message = {"id": "u", "role": "user", "parts": [{"type": "text", "text": USER}]}
    body = {"id": "c", "messages": [message], "trigger": "submit-message"}
    response = client.post("/v1/routes/pii/ui-chat", json=body)
    return response.headers["x-run-id"], response.text


PROTOCOLS: dict[str, Protocol] = {
    "native": _native,
    "websocket": _websocket,
    "openai-stream": _openai(True),
    "openai": _openai(False),
    "langserve-invoke": _langserve("invoke"),
    "langserve-stream": _langserve("stream"),
    "langserve-stream_events": _langserve("stream_events"),
    "ai-sdk": _ai_sdk,
}


def _gateway_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every line logged in this process but the test's own WebSocket client's (which
    logs the frames it sends)."""
    handler = caplog.handler
    return "\n".join(
        handler.format(r) for r in caplog.records if not r.name.startswith("websockets.client")
    )


def _records(client: httpx.Client, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        records = client.get("/v1/audit/records", params={"limit": 1000}).json()["records"]
        if len(records) >= count or time.monotonic() > deadline:
            return list(records)
        time.sleep(0.05)


def test_no_pii_leaves_a_guarded_route_through_any_sink(
    tmp_path: Path, langsmith_bodies: list[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    otlp_app, otlp_bodies = _recorder()
    jsonl = tmp_path / "runs.jsonl"
    route = Route("pii", _agent(), guardrails=Guardrails.from_config({"pii": True}))
    with BackgroundServer(otlp_app) as otlp:
        settings = Settings(
            auth="none",
            data_dir=str(tmp_path),
            telemetry_jsonl=str(jsonl),
            otlp_endpoint=otlp.url,
            # The run's input and output on its span too: masked, as everywhere else.
            otlp_capture_io=True,
            expose_errors=True,
        )
        with (
            BackgroundServer(create_app([route], settings)) as server,
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            for name, protocol in PROTOCOLS.items():
                run_id, wire = protocol(client)
                assert _leaks(wire) == [], name
                assert "[EMAIL]" in wire, name
                snapshot = client.get(f"/v1/runs/{run_id}").text
                assert _leaks(snapshot) == [] and MASKED_ANSWER in snapshot, name
                replay = rejoin(client, run_id, 0)
                assert _leaks(str([e.data for e in replay])) == [], name
            tools = [e.data for e in replay if e.event.startswith("tool.")]
            assert tools[0]["args"] == {"query": "[EMAIL] [PHONE]"}
            assert tools[1]["output"] == "account of [EMAIL] [PHONE]: card [CARD], phone [PHONE]"
            records = _records(client, len(PROTOCOLS))
            assert len(records) == len(PROTOCOLS)
            assert _leaks(json.dumps(records)) == []
            assert {r["input_recorded"] for r in records} == {"masked"}
            assert records[0]["input"]["messages"][0]["content"] == "I am [EMAIL], call [PHONE]"
            assert records[0]["output"] == MASKED_ANSWER
            _wait_for(langsmith_bodies, b"Found [EMAIL]")
        # The gateway has stopped: exporters and the audit writer are flushed.
    traces = _wait_for(langsmith_bodies, b"account of [EMAIL] [PHONE]")
    assert _leaks(traces) == [] and _masks(traces) == {"[EMAIL]", "[PHONE]", "[CARD]"}
    otlp_text = b"".join(otlp_bodies).decode(errors="replace")
    assert "tokenwire.run_id" in otlp_text and _leaks(otlp_text) == []
    assert "input.value" in otlp_text and MASKED_ANSWER in otlp_text
    assert len(jsonl.read_text().splitlines()) == len(PROTOCOLS)
    assert _leaks(jsonl.read_text()) == []
    with sqlite3.connect(tmp_path / "audit.db") as db:
        rows = db.execute("SELECT * FROM audit_records").fetchall()
    assert len(rows) == len(PROTOCOLS) and _leaks(repr(rows)) == []
    export = tmp_path / "audit.jsonl"
    assert cli(["audit", "export", "--data-dir", str(tmp_path), "--out", str(export)]) == 0
    assert _leaks(export.read_text()) == [] and "[EMAIL]" in export.read_text()
    assert _leaks(_gateway_logs(caplog)) == []


def test_a_failing_tool_leaves_masked_errors_and_log_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The tool's error repeats its arguments: in the tool and run errors, in the audit
    record and in the traceback the gateway logs, they are masked."""
    caplog.set_level(logging.DEBUG)
    route = Route("pii", _agent("broken_lookup"), guardrails=Guardrails.from_config({"pii": True}))
    settings = Settings(auth="none", data_dir=str(tmp_path), expose_errors=True)
    with (
        BackgroundServer(create_app([route], settings)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        _, wire = _native(client)
        [record] = _records(client, 1)
    assert _leaks(wire) == [] and _leaks(json.dumps(record)) == []
    [tool_end] = [e.data for e in parse_events(wire.encode()) if e.event == "tool.end"]
    assert tool_end["error"] == "no account for [EMAIL] [PHONE]"
    assert record["status"] == "failed"
    assert record["error"]["message"] == "ValueError: no account for [EMAIL] [PHONE]"
    failed = [r for r in caplog.records if r.name == "tokenwire.runs"]
    assert failed and "no account for [EMAIL] [PHONE]" in (failed[0].exc_text or "")
    assert _leaks(_gateway_logs(caplog)) == []


def test_an_unguarded_route_is_not_masked(serve: Callable[..., httpx.Client]) -> None:
    client = serve([Route("pii", _agent())])
    run_id, wire = _native(client)
    events = parse_events(wire.encode())
    tools = [e.data for e in events if e.event.startswith("tool.")]
    assert tools[0]["args"] == {"query": f"{EMAIL} {PHONE}"}
    assert events[-1].data["output"] == ANSWER
    assert client.get(f"/v1/runs/{run_id}").json()["metadata"]["contact"] == OTHER_EMAIL
    [record] = _records(client, 1)
    assert record["input"] == AGENT_INPUT and "input_recorded" not in record
