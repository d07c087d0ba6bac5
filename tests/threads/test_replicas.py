"""Threads shared by replicas: two gateways over one Redis and one PostgreSQL checkpoint
store. A thread paused on one resumes on the other, and while one runs a thread the other
refuses a second run of it (the claim is in Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from psycopg import sql
from pydantic import SecretStr
from typing_extensions import TypedDict

from tests.postgres import pg_admin
from tests.redis_client import sync_redis
from tokenwire import Gateway, Route, RunStatus, Settings, ThreadBusy
from tokenwire.threads import ThreadRequest


class State(TypedDict, total=False):
    question: str
    answer: str


def _graph(release: asyncio.Event) -> Any:
    async def ask(state: State) -> State:
        if state["question"] == "slow":
            await release.wait()
        return {"answer": str(interrupt(state["question"]))}

    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile()


Make = Callable[[], Awaitable[Gateway]]


@pytest.fixture
async def replicas(
    prefix: str, redis_url: str, checkpoint_postgres: str, tmp_path: Any
) -> AsyncIterator[tuple[Make, asyncio.Event]]:
    schema = f"tw_replicas_{secrets.token_hex(6)}"
    release = asyncio.Event()
    made: list[Gateway] = []

    async def make() -> Gateway:
        settings = Settings(
            redis_url=SecretStr(redis_url),
            redis_prefix=prefix,
            data_dir=str(tmp_path),
            checkpoint_url=SecretStr(checkpoint_postgres),
            checkpoint_schema=schema,
        )
        gateway = Gateway([Route("ask", _graph(release))], settings)
        await gateway.start()
        made.append(gateway)
        return gateway

    yield make, release
    release.set()
    for gateway in made:
        await gateway.aclose()
    pg_admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


async def _ended(run: Any) -> Any:
    await run.settle(30)
    return run


async def test_a_thread_paused_on_one_replica_resumes_on_another(
    replicas: tuple[Make, asyncio.Event],
) -> None:
    make, _ = replicas
    a, b = await make(), await make()
    run, _ = await a.start_run("ask", {"question": "name?"}, thread=ThreadRequest("t"))
    assert (await _ended(run)).status is RunStatus.INTERRUPTED
    resumed, _ = await b.start_run("ask", None, thread=ThreadRequest("t", {"resume": "ada"}))
    assert (await _ended(resumed)).status is RunStatus.COMPLETED
    assert resumed.summary["output"] == {"question": "name?", "answer": "ada"}
    assert (await a.threads.state("t"))["values"]["answer"] == "ada"


async def test_a_live_thread_on_one_replica_is_busy_on_another(
    replicas: tuple[Make, asyncio.Event],
) -> None:
    make, release = replicas
    a, b = await make(), await make()
    slow, _ = await a.start_run("ask", {"question": "slow"}, thread=ThreadRequest("t"))
    with pytest.raises(ThreadBusy) as busy:
        await b.start_run("ask", {"question": "again"}, thread=ThreadRequest("t"))
    assert busy.value.run_id == slow.id
    release.set()
    assert (await _ended(slow)).status is RunStatus.INTERRUPTED
    after, _ = await b.start_run("ask", None, thread=ThreadRequest("t", {"resume": "ok"}))
    assert (await _ended(after)).status is RunStatus.COMPLETED


async def test_the_heartbeat_keeps_a_long_runs_thread_claimed(
    replicas: tuple[Make, asyncio.Event], redis_url: str, prefix: str
) -> None:
    """A claim lapsing under a run that outlives it would let another replica run the
    thread beside it: each heartbeat holds the claims of the replica's live threads."""
    make, release = replicas
    a = await make()
    slow, _ = await a.start_run("ask", {"question": "slow"}, thread=ThreadRequest("t"))
    redis = sync_redis(redis_url)
    key = f"{prefix}:thread:t"
    assert redis.get(key) == slow.id.encode()
    redis.pexpire(key, 1000)  # about to lapse
    assert a.cluster is not None
    await a.cluster._beat()
    assert redis.pttl(key) > 60_000
    release.set()
    await _ended(slow)
