"""Replicas on one Redis agree on a rollout's state, and a restart keeps it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
from pydantic import SecretStr
from redis.asyncio import Redis

from tokenwire.broker.redis import RedisKeys
from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.gateway import Gateway
from tokenwire.rollout import RolloutPolicy
from tokenwire.rollout.state import RolloutState
from tokenwire.rollout.store import RedisStore
from tokenwire.routes import RolloutPlan, Route


@asynccontextmanager
async def _replica(
    mock_url: str, redis_url: str, prefix: str, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A started gateway on the shared Redis, closed (its model clients too) on leaving."""
    http = openai.DefaultAsyncHttpxClient()
    gateway = _gateway(
        lambda profile: demo_model(f"{mock_url}/v1", profile, http), redis_url, prefix, tmp_path
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.aclose()
        await http.aclose()


def _gateway(model: Callable[[str], Any], redis_url: str, prefix: str, tmp_path: Path) -> Gateway:
    stable = Route("chat", model("tokens=3"))
    policy = RolloutPolicy.model_validate(
        {
            "variants": [{"name": "canary", "percent": 50}],
            "sticky": "none",
            "analysis": {"min_runs": 4, "max_error_rate": 0.1},
        }
    )
    canary = model("fault=500")
    plan = RolloutPlan.of(stable, policy, {"canary": canary})
    settings = Settings(
        redis_url=SecretStr(redis_url), redis_prefix=prefix, data_dir=str(tmp_path), auth="none"
    )
    return Gateway([Route("chat", stable.runnable, rollout=plan)], settings)


async def test_two_replicas_agree_and_a_restart_keeps_the_state(
    mock_url: str, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    place = (mock_url, redis_url, prefix, tmp_path)
    async with _replica(*place) as one, _replica(*place) as other:
        for _ in range(60):  # one replica's failing canary runs decide it
            run, _ = await one.start_run("chat", "hi")
            assert run.task is not None
            await run.task
            await one.rollouts.rollouts.settle()
            if (await one.rollouts.rollouts.view("chat"))["state"] == "rolled_back":
                break
        remote = await other.find_run(run.id)  # the last run, the canary's, seen elsewhere
        assert remote is not None and remote is not run
        assert (remote.variant, remote.cohort) == ("canary", "stream")
        view = await other.rollouts.rollouts.view("chat")
        assert view["state"] == "rolled_back"
        canary = next(v for v in view["variants"] if v["name"] == "canary")
        assert canary["percent"] == 0.0 and canary["decided_by"]["breaches"]
        # The other replica now serves everything from stable (its cache was refreshed).
        for _ in range(10):
            run, _ = await other.start_run("chat", "hi")
            assert run.variant == "stable"
            assert run.task is not None
            await run.task
    async with _replica(*place) as restarted:
        assert (await restarted.rollouts.rollouts.view("chat"))["state"] == "rolled_back"
        await restarted.rollouts.rollouts.act("chat", "promote", actor="ops")
    async with _replica(*place) as again:
        view = await again.rollouts.rollouts.view("chat")
        assert view["state"] == "promoted" and view["variants"][0]["percent"] == 0.0


async def test_of_two_writers_over_one_version_one_wins(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        store = RedisStore(client, RedisKeys(prefix).rollout)
        assert await store.save(RolloutState("chat", version=1), 0)
        first = RolloutState("chat", batch_fallback=True, version=2)
        second = RolloutState("chat", batch_fallback=False, version=2)
        assert await store.save(first, 1) is True
        assert await store.save(second, 1) is False  # read at 1, but 2 is stored now
        stored = await store.load("chat")
        assert stored is not None and stored.version == 2 and stored.batch_fallback is True
        assert await client.exists(f"{prefix}:rollout:chat")
    finally:
        await client.aclose()
