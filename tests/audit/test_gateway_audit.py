"""A real gateway (uvicorn on 127.0.0.1, ChatOpenAI on the mock provider) audits every run —
completed, failed mid-stream, failed before it, cancelled — with what the client saw."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.audit.conftest import Backend
from tokenwire.audit import AuditStore, AuditTrail, audit_from_settings
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import SSE, collect, iter_sse, start_stream

Serve = Callable[..., httpx.Client]


def _text(events: list[SSE]) -> str:
    return "".join(e.data["text"] for e in events if e.event == "token")


def _records(client: httpx.Client, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The trail's records once ``count`` of them are written (writing is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        records: list[dict[str, Any]] = client.get(
            "/v1/audit/records", params={"limit": 1000}
        ).json()["records"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.05)


def _cancel(client: httpx.Client, run_id: str) -> None:
    # A cancel that lands right after the first token is sometimes lost today (the run then
    # completes; seen with the audit trail on or off): ask again rather than flake here.
    for _ in range(5):
        snapshot = client.post(f"/v1/runs/{run_id}/cancel").json()
        if snapshot["status"] != "running":
            break
    assert snapshot["status"] == "cancelled", snapshot


def test_every_finished_run_is_recorded_as_delivered(
    serve: Serve, mock_url: str, backend: Backend
) -> None:
    base = f"{mock_url}/v1"
    client = serve(
        [
            Route("chat", demo_model(base, "tokens=5")),
            Route("broken", demo_model(base, "tokens=5,fault=500")),
            Route("drops", demo_model(base, "tokens=8,fault=drop:3")),
            Route("slow", demo_model(base, "tokens=400,itl=20")),
        ],
        **backend.settings(),
        auth="none",
    )
    completed = collect(client, "chat", {"input": "Hello audit"})
    failed = collect(client, "broken", {"input": "Hello failure"})
    dropped = collect(client, "drops", {"input": "Hello partial"})
    assert failed[-1].data["status"] == "failed"
    assert dropped[-1].data["status"] == "failed" and _text(dropped)

    accepted = client.post("/v1/routes/slow/runs", json={"input": "Hello cancel"}).json()
    cancel_id = accepted["run_id"]
    while not client.get(f"/v1/runs/{cancel_id}").json()["output"]:
        time.sleep(0.02)
    _cancel(client, cancel_id)
    with client.stream("GET", f"/v1/runs/{cancel_id}/stream", params={"after": 0}) as r:
        cancelled = list(iter_sse(r))

    records = {r["run_id"]: r for r in _records(client, 4)}
    runs = {
        "chat": completed,
        "broken": failed,
        "drops": dropped,
        "slow": cancelled,
    }
    assert len(records) == 4
    for route, events in runs.items():
        start, end = events[0].data, events[-1].data
        record = records[start["run_id"]]
        assert record["route"] == route
        assert record["status"] == end["status"]
        assert record["output"] == _text(events)  # exactly the delivered text
        assert record["model"] == start["model"]
        assert record["trace_id"] == start["trace_id"]
        assert record["usage"] == end["usage"]
        assert record["cost_usd"] == end["usage"]["cost_usd"]
        assert record["timings"] == end["timings"]
        assert record["error"] == end.get("error")
        assert record["guardrail_actions"] == []
        assert record["created_at"] <= record["ended_at"] <= record["recorded_at"]
    chat = records[completed[0].data["run_id"]]
    assert chat["input"] == "Hello audit"
    # The gateway sets the key alias from the caller's credentials, never from metadata.
    snapshot = client.get(f"/v1/runs/{chat['run_id']}").json()
    assert chat["key_alias"] == snapshot["metadata"]["key_alias"] is not None
    assert chat["output"] and chat["output"] == completed[-1].data["output"]
    assert records[failed[0].data["run_id"]]["error"]["code"] == "upstream_error"
    assert records[cancelled[0].data["run_id"]]["error"]["code"] == "cancelled"
    assert records[cancelled[0].data["run_id"]]["output"]  # the partial text, kept

    verdict = client.get("/v1/audit/verify").json()
    assert verdict["ok"] is True and verdict["checked"] == 4
    assert verdict["head"].startswith("4:")
    page = client.get("/v1/audit/records", params={"after": 2, "limit": 1}).json()
    assert [r["sequence"] for r in page["records"]] == [3] and page["next_after"] == 3


class SlowStore(AuditStore):
    """A store whose every append takes ``delay`` seconds (a slow or distant database)."""

    delay = 2.0

    async def append(self, entries: Any) -> Any:
        await asyncio.sleep(self.delay)
        return await super().append(entries)


def test_run_end_reaches_the_client_before_the_audit_write(mock_url: str, backend: Backend) -> None:
    trail = AuditTrail(SlowStore(backend.url, schema=backend.schema))
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=5"))
    gateway = Gateway([route], Settings(auth="none"), audit=trail)
    with (
        BackgroundServer(create_app(gateway)) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        with start_stream(client, "chat", {"input": "quick"}) as response:
            events = list(iter_sse(response))
        assert events[-1].event == "run.end"
        assert client.get("/v1/audit/records").json()["records"] == []  # not written yet
        records = _records(client, 1)
        assert [r["run_id"] for r in records] == [events[0].data["run_id"]]


def test_a_gateway_without_audit_says_so(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1"))], audit_enabled=False, auth="none")
    response = client.get("/v1/audit/records")
    assert response.status_code == 404
    assert response.json()["title"] == "Audit trail disabled"


def test_create_app_keeps_the_audit_store_under_data_dir(
    serve: Serve, mock_url: str, tmp_path: Any
) -> None:
    client = serve(
        [Route("chat", demo_model(f"{mock_url}/v1", "tokens=2"))],
        data_dir=str(tmp_path),
        auth="none",
    )
    collect(client, "chat", {"input": "where"})
    assert _records(client, 1)
    assert (tmp_path / "audit.db").is_file()


@pytest.mark.parametrize("value", ["not-a-head", "12:xyz"])
def test_verify_rejects_a_malformed_anchor(serve: Serve, mock_url: str, value: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1"))], auth="none")
    response = client.get("/v1/audit/verify", params={"expect_head": value})
    assert response.status_code == 422


def test_only_auditors_read_the_trail_and_records_name_the_callers_key(
    mock_url: str, tmp_path: Any
) -> None:
    credentials = Credentials(
        [
            ApiKey.from_config({"alias": "alice", "key": "client-secret"}),
            ApiKey.from_config({"alias": "audrey", "key": "auditor-secret", "roles": ["auditor"]}),
        ]
    )
    settings = Settings(data_dir=str(tmp_path))
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=3"))
    audit = audit_from_settings(settings)
    app = create_app(Gateway([route], settings, audit=audit, credentials=credentials))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        client = {"Authorization": "Bearer client-secret"}
        auditor = {"Authorization": "Bearer auditor-secret"}
        with http.stream(
            "POST",
            "/v1/routes/chat/runs",
            json={"input": "who am I", "metadata": {"key_alias": "mallory"}},
            headers={"Accept": "text/event-stream", **client},
        ) as response:
            events = list(iter_sse(response))
        assert events[-1].data["status"] == "completed"
        assert http.get("/v1/audit/records", headers=client).status_code == 403
        assert http.get("/v1/audit/verify").status_code == 401
        http.headers.update(auditor)
        [record] = _records(http, 1)
        assert record["key_alias"] == "alice"  # from the key, not from client metadata
        assert http.get("/v1/audit/verify").json()["ok"] is True
