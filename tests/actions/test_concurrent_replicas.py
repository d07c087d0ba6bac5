"""Twenty identical ``@action`` calls at once, through two gateway replicas sharing the
durable stack — the action ledger in PostgreSQL (a schema of its own), calls in flight
claimed in Redis (a key prefix of its own): one execution, nineteen replays, and every
run ends with one ``run.end``.

The gateway itself never runs two runs of one lineage at once (a thread admits one run, an
``Idempotency-Key`` one run per caller); what makes duplicates concurrent is a race this
test stands in for — a resume on one replica while another still runs the work, a replica
stalled past its TTL. So the route pins its calls' lineage to one for all twenty runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool
from psycopg import sql

from tests.actions.crm import Crm
from tests.postgres import POSTGRES_URL, pg_admin
from tokenwire import Route
from tokenwire.actions import action, action_scope, current_key
from tokenwire.actions.scope import current_scope
from tokenwire.audit.trail import AuditTrail
from tokenwire.gateway import Gateway
from tokenwire.testing import poll_until, rejoin, serve, test_settings

CALLS = 20


@pytest.fixture
def durable_settings(
    checkpoint_postgres: str, redis_url: str, prefix: str, tmp_path: Path
) -> Iterator[dict[str, Any]]:
    schema = f"tw_concurrent_{secrets.token_hex(6)}"
    yield {
        "data_dir": str(tmp_path),
        "audit_url": POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"),
        "audit_schema": schema,
        "redis_url": redis_url,
        "redis_prefix": prefix,
    }
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _route(url: str, release: threading.Event) -> Route:
    @action
    @tool
    async def create_ticket(title: str) -> dict[str, Any]:
        """Create a ticket in the CRM."""
        async with httpx.AsyncClient() as client:
            created: dict[str, Any] = (
                await client.post(
                    f"{url}/tickets",
                    json={"title": title},
                    headers={"Idempotency-Key": current_key() or ""},
                )
            ).json()
        # In flight until every run has started: the others are duplicates of a running call.
        await asyncio.to_thread(release.wait, 60)
        return created

    async def file(payload: dict[str, Any], config: RunnableConfig) -> Any:
        scope = current_scope.get()
        assert scope is not None
        with action_scope(dataclasses.replace(scope, lineage="thread:pinned")):
            return await create_ticket.ainvoke({"title": payload["title"]}, config)

    return Route("file", RunnableLambda(file), mode="events")


def _replayed(client: httpx.Client) -> dict[str, float]:
    """``tokenwire_actions_total`` of this replica, by status."""
    found: dict[str, float] = {}
    for line in client.get("/metrics").text.splitlines():
        match = re.match(r'tokenwire_actions_total\{[^}]*status="(\w+)"[^}]*\} (\S+)', line)
        if match:
            found[match[1]] = found.get(match[1], 0.0) + float(match[2])
    return found


def test_twenty_concurrent_identical_calls_on_two_replicas_execute_once(
    crm: tuple[Crm, str], durable_settings: dict[str, Any]
) -> None:
    records, url = crm
    release = threading.Event()
    with ExitStack() as stack:
        clients = []
        for _ in range(2):
            settings = test_settings(**durable_settings)
            gateway = Gateway(
                [_route(url, release)], settings, audit=AuditTrail.from_settings(settings)
            )
            clients.append(stack.enter_context(serve(gateway)))
        started: list[tuple[httpx.Client, str]] = []
        for n in range(CALLS):
            client = clients[n % 2]
            body = {"input": {"title": "refund"}, "on_disconnect": "continue"}
            response = client.post("/v1/routes/file/runs", json=body)
            assert response.status_code == 202, response.text
            started.append((client, response.json()["run_id"]))
        release.set()
        runs = [rejoin(client, run_id, 0) for client, run_id in started]
        poll_until(
            lambda: sum(_replayed(c).get("replayed", 0) for c in clients) == CALLS - 1,
            timeout=30,
        )
        counts = [_replayed(c) for c in clients]
    assert len(records.tickets) == 1  # one execution
    assert records.tickets[0]["key"]
    for events in runs:
        kinds = [e.event for e in events]
        assert kinds.count("run.end") == 1 and kinds[-1] == "run.end", kinds
        assert events[-1].data["status"] == "completed", events[-1].data
    ends = [[e.data for e in events if e.event == "tool.end"] for events in runs]
    assert all(len(tool_ends) == 1 for tool_ends in ends)
    outputs = [tool_ends[0] for tool_ends in ends]
    assert sum(1 for o in outputs if o.get("replayed")) == CALLS - 1
    assert sum(c.get("replayed", 0) for c in counts) == CALLS - 1
    assert sum(c.get("succeeded", 0) for c in counts) == 1
