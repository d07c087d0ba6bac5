"""A key's ``concurrent_streams`` across replicas sharing Redis: of simultaneous starts on
any replicas at most the limit run, a start that fails gives its slot back, and the slots of
a replica that died free themselves once its leases expire.

The bursts run twice: on two in-process gateways whose starts are released together by a
barrier (every start asks before any is answered: deterministic), and on two real servers
over HTTP. The dead replica is a real ``tokenwire serve`` killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.cluster.conftest import ROUTES, Make
from tests.redis_client import sync_redis
from tokenwire.config import Settings
from tokenwire.errors import RateLimited, RegistryFull
from tokenwire.gateway import Gateway
from tokenwire.runs.run import Run
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.security.principal import Principal, Role, current_principal
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer
from tokenwire.testing import free_port, wait_ready

LIMIT = 3
CREDENTIALS = Credentials(keys=[ApiKey("three", hash_key("sk-three"), concurrent_streams=LIMIT)])
THREE = {"Authorization": "Bearer sk-three"}
#: A run that holds its slot until it is cancelled.
HOLD = {"n": 100_000, "delay": 0.01}


@pytest.fixture
def as_three() -> Iterator[None]:
    """In-process starts made as key ``three`` (what the auth middleware sets per request)."""
    token = current_principal.set(Principal("three", frozenset({Role.CLIENT})))
    yield
    current_principal.reset(token)


async def _replicas(gateways: Make, n: int = 2, **settings: Any) -> list[Gateway]:
    """``n`` more replicas, with the keys' limits."""
    return (await gateways(n, credentials=CREDENTIALS, **settings))[-n:]


async def _burst(replicas: list[Gateway], n: int = 10) -> list[Run]:
    """``n`` starts split across the replicas, all asking at once: the runs started."""
    together = asyncio.Barrier(n)

    async def start(replica: Gateway) -> tuple[Run, bool]:
        await together.wait()
        return await replica.start_run("count", HOLD)

    outcomes = await asyncio.gather(
        *(start(replicas[i % len(replicas)]) for i in range(n)), return_exceptions=True
    )
    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    started = [o[0] for o in outcomes if isinstance(o, tuple)]
    assert len(started) + len(refused) == n, outcomes
    assert all(o[1] for o in outcomes if isinstance(o, tuple))  # each a new run
    return started


def _live(replicas: list[Gateway]) -> list[Run]:
    return [run for g in replicas for run in g.registry.live() if run.owner == "three"]


async def _end(replicas: list[Gateway], runs: list[Run]) -> None:
    """Cancel ``runs``, and wait until every replica's writes (the freed slots) are in Redis."""
    for run in runs:
        run.cancel("next burst")
    await asyncio.gather(*(run.task for run in runs if run.task is not None))
    for replica in replicas:
        assert replica.cluster is not None
        assert await replica.cluster.broker.flushed()


async def test_simultaneous_starts_on_two_replicas_never_pass_the_limit(
    gateways: Make, as_three: None
) -> None:
    replicas = await _replicas(gateways)
    for _ in range(6):
        started = await _burst(replicas)
        assert len(started) == LIMIT, [run.id for run in started]
        assert len(_live(replicas)) == LIMIT
        await _end(replicas, started)


async def test_every_start_that_fails_gives_its_slot_back(
    gateways: Make, as_three: None, redis_url: str, prefix: str
) -> None:
    (full,) = await _replicas(gateways, 1, max_runs=1)
    (other,) = await _replicas(gateways, 1)
    held, _ = await full.start_run("count", HOLD)  # fills ``full``'s registry
    with pytest.raises(RegistryFull):  # admitted, then refused: the slot is free again
        await full.start_run("count", HOLD)
    leaving = asyncio.create_task(full.start_run("count", HOLD))
    await asyncio.sleep(0)  # its take is on its way to Redis
    leaving.cancel()  # the client left mid-admission
    (outcome,) = await asyncio.gather(leaving, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError | RegistryFull), outcome
    assert await _flushed(full)
    slots = sync_redis(redis_url)
    assert slots.zcard(f"{prefix}:slots:three") == 1  # ``held``'s lease, and no other
    second, _ = await other.start_run("count", HOLD)
    third, _ = await other.start_run("count", HOLD)
    with pytest.raises(RateLimited):
        await other.start_run("count", HOLD)
    await _end([full, other], [held, second, third])
    assert slots.zcard(f"{prefix}:slots:three") == 0


async def _flushed(replica: Gateway) -> bool:
    assert replica.cluster is not None
    return await replica.cluster.broker.flushed()


def test_bursts_on_two_servers_never_start_more_than_the_limit(
    redis_url: str, prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(redis_url=SecretStr(redis_url), redis_prefix=prefix)
    apps = [
        create_app(
            ROUTES,
            settings.replace(data_dir=str(tmp_path_factory.mktemp("data"))),
            credentials=CREDENTIALS,
        )
        for _ in range(2)
    ]
    slots = sync_redis(redis_url)
    with BackgroundServer(apps[0]) as a, BackgroundServer(apps[1]) as b:
        for burst in range(6):
            replies = asyncio.run(_http_burst([a.url, b.url], 10))
            statuses = sorted(r.status_code for r in replies)
            assert statuses == [202] * LIMIT + [429] * (10 - LIMIT), (burst, statuses)
            assert all(int(r.headers["retry-after"]) >= 1 for r in replies if r.status_code == 429)
            for reply in replies:
                if reply.status_code == 202:
                    run = reply.json()["run_id"]
                    cancel = httpx.post(f"{a.url}/v1/runs/{run}/cancel", headers=THREE)
                    assert cancel.json()["status"] == "cancelled", cancel.text
            _wait_for(lambda: slots.zcard(f"{prefix}:slots:three") == 0)


async def _http_burst(urls: list[str], n: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(headers=THREE, timeout=30) as client:
        for url in urls:  # connect first, so the burst's requests leave together
            assert (await client.get(f"{url}/healthz")).status_code == 200
        return await asyncio.gather(
            *(
                client.post(f"{urls[i % len(urls)]}/v1/routes/count/runs", json={"input": HOLD})
                for i in range(n)
            )
        )


def _wait_for(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


_SERVE = [sys.executable, "-m", "tokenwire", "serve", "--config", "tokenwire.toml"]
_CHAINS = """\
import asyncio
from langchain_core.runnables import RunnableLambda

async def _count(_):
    for i in range(100_000):
        await asyncio.sleep(0.01)
        yield f"t{i} "

count = RunnableLambda(_count)
"""


def test_the_slots_of_a_killed_replica_free_when_its_leases_expire(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    ttl = 1.0  # lease and heartbeat lifetime: a dead replica's slots free within it
    (tmp_path / "chains.py").write_text(_CHAINS)
    (tmp_path / "tokenwire.toml").write_text(
        f'[gateway]\nredis_url = "{redis_url}"\nredis_prefix = "{prefix}"\n'
        f"replica_ttl_seconds = {ttl}\n\n"
        '[auth]\nkeys = [{ alias = "three", key = "sk-three", concurrent_streams = 3 }]\n\n'
        '[routes.count]\ntarget = "chains.py:count"\n'
    )
    port = free_port()
    doomed_url, log = f"http://127.0.0.1:{port}", tmp_path / "serve.log"
    with log.open("wb") as out:
        doomed = subprocess.Popen(
            [*_SERVE, "--port", str(port)],
            cwd=tmp_path,
            env={**os.environ, "TOKENWIRE_DATA_DIR": str(tmp_path)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    settings = Settings(
        redis_url=SecretStr(redis_url),
        redis_prefix=prefix,
        replica_ttl_seconds=ttl,
        data_dir=str(tmp_path),
    )
    survivor = BackgroundServer(create_app(ROUTES, settings, credentials=CREDENTIALS))
    try:
        wait_ready(doomed_url, doomed, log)
        with survivor, httpx.Client(headers=THREE, timeout=30) as client:
            for _ in range(LIMIT):
                started = client.post(f"{doomed_url}/v1/routes/count/runs", json={"input": "x"})
                assert started.status_code == 202, started.text
            start = f"{survivor.url}/v1/routes/count/runs"
            assert client.post(start, json={"input": HOLD}).status_code == 429
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            # Nobody releases the dead replica's slots: each frees as its lease expires.
            taken: list[str] = []

            def take_one() -> bool:
                reply = client.post(start, json={"input": HOLD})
                if reply.status_code == 202:
                    taken.append(reply.json()["run_id"])
                return len(taken) == LIMIT

            _wait_for(take_one)
            assert client.post(start, json={"input": HOLD}).status_code == 429
    except BaseException:
        print(log.read_text())  # the killed replica's side of the story, for a failing run
        raise
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()
