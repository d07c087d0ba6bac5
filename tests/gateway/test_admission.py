"""The admission gate: a start's idempotency replay or claim, the caller's limits, and their
release — whatever the start's outcome — as one ``async with`` (in process, real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from tests.redis_client import sync_redis
from tokenwire.config import Settings
from tokenwire.errors import InvalidRequest, RateLimited
from tokenwire.gateway import Gateway, Hooks
from tokenwire.routes import Route
from tokenwire.runs.run import Run


async def _words(_: Any) -> AsyncIterator[str]:
    for word in ("one ", "two"):
        yield word


ROUTES = [Route("echo", RunnableLambda(_words), mode="tokens")]


class Limits:
    """An admission that counts what its starts hold; refuses while ``refusing``."""

    def __init__(self) -> None:
        self.refusing = False
        self.asked = 0
        self.held: list[Run] = []
        self.released = 0

    async def admit(self, owner: str) -> Limits:
        self.asked += 1
        await asyncio.sleep(0)  # a real admission may wait on Redis
        if self.refusing:
            raise RateLimited("more than 0 concurrent streams", 1)
        return self

    # The slot: one object stands for every slot, counted.
    def hold(self, run: Run) -> None:
        self.held.append(run)

    def release(self) -> None:
        self.released += 1


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(auth="none", data_dir=str(tmp_path))


@pytest.fixture
def shared(settings: Settings, redis_url: str, prefix: str) -> Settings:
    """Settings of replicas sharing runs through Redis (under the test's own prefix)."""
    return settings.replace(redis_url=redis_url, redis_prefix=prefix)


def _claims(redis_url: str, prefix: str) -> list[bytes]:
    return list(sync_redis(redis_url).scan_iter(f"{prefix}:idem:*"))


async def test_a_replay_starts_nothing_and_is_never_refused(
    settings: Settings, limits: Limits
) -> None:
    gateway = Gateway(ROUTES, settings, hooks=Hooks(admission=limits))
    async with gateway.lifespan():
        run, created = await gateway.start_run("echo", "hi", idempotency_key="k")
        limits.refusing = True  # the key's limit is spent now
        again, replayed = await gateway.start_run("echo", "hi", idempotency_key="k")
    assert created and not replayed and again is run
    assert limits.asked == 1 and limits.held == [run] and limits.released == 0
    assert len(gateway.registry) == 1


async def test_a_replay_of_another_replicas_run_is_never_refused(
    shared: Settings, limits: Limits
) -> None:
    a = Gateway(ROUTES, shared)
    b = Gateway(ROUTES, shared, hooks=Hooks(admission=limits))
    limits.refusing = True
    await a.start()
    await b.start()
    try:
        run, _ = await a.start_run("echo", "hi", idempotency_key="k")
        again, created = await b.start_run("echo", "hi", idempotency_key="k")
    finally:
        await b.aclose()
        await a.aclose()
    assert (again.id, created) == (run.id, False)
    assert limits.asked == 0 and len(b.registry) == 0


@pytest.mark.parametrize(
    ("refusal", "config"),
    [(RateLimited, None), (InvalidRequest, {"recursion_limit": "nope"})],
    ids=["by the limits", "after admission"],
)
async def test_a_refused_start_frees_its_idempotency_claim_and_slot(
    shared: Settings,
    limits: Limits,
    redis_url: str,
    prefix: str,
    refusal: type[Exception],
    config: dict[str, Any] | None,
) -> None:
    gateway = Gateway(ROUTES, shared, hooks=Hooks(admission=limits))
    limits.refusing = refusal is RateLimited
    await gateway.start()
    try:
        with pytest.raises(refusal):
            await gateway.start_run("echo", "hi", config=config, idempotency_key="k")
        assert _claims(redis_url, prefix) == []  # the next start need not wait for it
        # A slot was taken only by the start admitted before it was refused.
        assert limits.held == [] and limits.released == (1 if refusal is InvalidRequest else 0)
        limits.refusing = False
        run, created = await gateway.start_run("echo", "hi", idempotency_key="k")
        assert created and limits.held == [run]
        assert len(_claims(redis_url, prefix)) == 1
    finally:
        await gateway.aclose()


async def test_simultaneous_starts_of_one_key_start_one_run(
    settings: Settings, limits: Limits
) -> None:
    """Both pass the replay check before either is admitted: the second finds the first's
    run once admitted, replays it and gives its slot back."""
    gateway = Gateway(ROUTES, settings, hooks=Hooks(admission=limits))
    async with gateway.lifespan():
        (first, created), (second, again) = await asyncio.gather(
            gateway.start_run("echo", "hi", idempotency_key="k"),
            gateway.start_run("echo", "hi", idempotency_key="k"),
        )
    assert first is second and sorted([created, again]) == [False, True]
    assert limits.asked == 2 and limits.held == [first] and limits.released == 1


async def test_a_start_cancelled_while_admitted_holds_nothing(
    settings: Settings, limits: Limits
) -> None:
    gateway = Gateway(ROUTES, settings, hooks=Hooks(admission=limits))
    async with gateway.lifespan():
        leaving = asyncio.ensure_future(gateway.start_run("echo", "hi"))
        await asyncio.sleep(0)  # inside the admission
        leaving.cancel()
        (outcome,) = await asyncio.gather(leaving, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    assert limits.asked == 1 and limits.held == [] and len(gateway.registry) == 0
