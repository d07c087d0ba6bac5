"""Two real ``tokenwire serve`` replicas sharing PostgreSQL (checkpoints, and the audit
database holding the action ledger) and Redis: the replica that ran the tool is killed
with ``kill -9`` mid-run, the thread is carried on by the other — one ticket; a deferred
call made before a pause on the killed replica is committed by the other's resume."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg import sql

from tests.actions.crm import Crm
from tests.postgres import pg_admin
from tokenwire.testing import free_port, poll_until, wait_ready

#: What both graphs start with: the CRM call their ``create_ticket`` action makes.
CRM_CALL = """
import asyncio, os
import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict
from tokenwire.actions import action, current_key

async def post_ticket(title: str) -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            os.environ["CRM_URL"] + "/tickets",
            json={"title": title},
            headers={"Idempotency-Key": current_key() or ""},
        )
    return response.json()
"""

GRAPH = (
    CRM_CALL
    + """
@action
async def create_ticket(title: str) -> dict:
    return await post_ticket(title)

class State(TypedDict, total=False):
    title: str
    ticket: dict

async def file(state: State) -> State:
    ticket = await create_ticket(state["title"])
    if os.environ.get("HANG_AFTER_THE_TOOL"):  # this replica is killed here
        await asyncio.Event().wait()
    return {"ticket": ticket}

builder = StateGraph(State)
builder.add_node("file", file)
builder.add_edge(START, "file")
builder.add_edge("file", END)
graph = builder.compile()
"""
)

DEFERRED = (
    CRM_CALL
    + """
@action(commit="after_validation")
async def create_ticket(title: str) -> dict:
    return await post_ticket(title)

class State(TypedDict, total=False):
    title: str
    ticket: dict
    approved: bool

async def file(state: State) -> State:
    return {"ticket": await create_ticket(state["title"])}

def ask(state: State) -> State:
    return {"approved": interrupt({"question": "file it?"})}

builder = StateGraph(State)
builder.add_node("file", file)
builder.add_node("ask", ask)
builder.add_edge(START, "file")
builder.add_edge("file", "ask")
builder.add_edge("ask", END)
graph = builder.compile()
"""
)

#: A dead replica is noticed within this (and its run swept within half of it again).
_TTL = 0.6

Start = Callable[..., tuple[subprocess.Popen[bytes], str]]


@pytest.fixture
def replica(
    tmp_path: Path, redis_url: str, prefix: str, checkpoint_postgres: str, crm: tuple[Crm, str]
) -> Iterator[Start]:
    """``replica(**env)``: one more ``tokenwire serve`` process of the shared gateway."""
    (tmp_path / "tickets.py").write_text(GRAPH)
    (tmp_path / "deferred.py").write_text(DEFERRED)
    schema = f"tw_killed_{secrets.token_hex(6)}"
    env = {
        **os.environ,
        "CRM_URL": crm[1],
        "TOKENWIRE_DATA_DIR": str(tmp_path),
        "TOKENWIRE_REDIS_URL": redis_url,
        "TOKENWIRE_REDIS_PREFIX": prefix,
        "TOKENWIRE_REPLICA_TTL_SECONDS": str(_TTL),
        "TOKENWIRE_CHECKPOINT_URL": checkpoint_postgres,
        "TOKENWIRE_CHECKPOINT_SCHEMA": schema,
        "TOKENWIRE_AUDIT_URL": checkpoint_postgres.replace(
            "postgresql://", "postgresql+asyncpg://"
        ),
        "TOKENWIRE_AUDIT_SCHEMA": schema,
    }
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(
        target: str = "tickets.py:graph", **extra: str
    ) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        command = ["serve", target, "--no-auth", "--mode", "events"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tokenwire", *command, "--port", str(port)],
                cwd=tmp_path,
                env={**env, **extra},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        return proc, url

    yield start
    for proc, log in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if proc.wait(timeout=30) not in (0, -signal.SIGTERM):
                print(log.read_text())
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _actions(url: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = httpx.get(f"{url}/v1/actions").json()["actions"]
    return listed


def test_the_thread_carried_on_after_kill_9_creates_one_ticket(
    replica: Start, crm: tuple[Crm, str]
) -> None:
    records, _ = crm
    doomed, a = replica(HANG_AFTER_THE_TOOL="1")
    _, b = replica()
    body = {"input": {"title": "refund"}, "thread_id": "t", "on_disconnect": "continue"}
    started = httpx.post(f"{a}/v1/routes/graph/runs", json=body).json()
    # The tool ran on A, and its result is in the shared ledger: A is mid-run.
    poll_until(lambda: [e["status"] for e in _actions(a)] == ["succeeded"], timeout=30)
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL

    def carried_on() -> httpx.Response | None:
        # 409 while A's run still holds the thread (until B's sweeper ends it).
        response = httpx.post(f"{b}/v1/routes/graph/runs", json={"thread_id": "t"})
        return None if response.status_code == 409 else response

    again = poll_until(carried_on, timeout=30)
    assert again.status_code == 202, again.text
    run_id = again.json()["run_id"]
    with httpx.Client(base_url=b, timeout=30) as client:
        poll_until(
            lambda: client.get(f"/v1/runs/{run_id}").json()["status"] != "running", timeout=30
        )
        end = client.get(f"/v1/runs/{run_id}").json()
    assert end["status"] == "completed", end
    assert end["output"]["ticket"] == {"id": 1}  # replayed from what A recorded
    assert len(records.tickets) == 1
    (entry,) = _actions(b)
    assert (entry["status"], entry["run_id"]) == ("succeeded", started["run_id"])
    assert entry["key"] == records.tickets[0]["key"]


def _ended(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Start a run of the graph and wait for how it ended."""
    started = httpx.post(f"{url}/v1/routes/graph/runs", json=body)
    assert started.status_code == 202, started.text
    run_id = started.json()["run_id"]
    with httpx.Client(base_url=url, timeout=30) as client:
        poll_until(
            lambda: client.get(f"/v1/runs/{run_id}").json()["status"] != "running", timeout=30
        )
        ended: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
    return ended


def test_a_deferred_call_paused_on_a_replica_killed_commits_once_on_the_other(
    replica: Start, crm: tuple[Crm, str]
) -> None:
    """What a paused run intended lives in the shared ledger, not in the dead replica: its
    thread's resume on the survivor commits it once; a new turn on another thread it left
    paused discards it."""
    records, _ = crm
    doomed, a = replica("deferred.py:graph")
    _, b = replica("deferred.py:graph")
    for thread, title in (("t1", "refund"), ("t2", "upgrade")):
        body = {"input": {"title": title}, "thread_id": thread}
        assert _ended(a, body)["status"] == "interrupted"
    assert sorted(e["status"] for e in _actions(b)) == ["intended", "intended"]
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(timeout=10) == -signal.SIGKILL

    resumed = _ended(b, {"thread_id": "t1", "command": {"resume": True}})
    assert resumed["status"] == "completed", resumed
    new_turn = _ended(b, {"input": {"title": "other"}, "thread_id": "t2"})
    assert new_turn["status"] == "interrupted", new_turn

    assert [t["title"] for t in records.tickets] == ["refund"]
    by_status = {e["status"]: e for e in _actions(b) if e["thread_id"] in ("t1", "t2")}
    assert set(by_status) == {"succeeded", "discarded", "intended"}  # t2's new turn intends
    committed = by_status["succeeded"]
    assert committed["key"] == records.tickets[0]["key"]
    assert committed["run_id"] == resumed["run_id"]
    assert by_status["discarded"]["args"] == {"title": "upgrade"}
