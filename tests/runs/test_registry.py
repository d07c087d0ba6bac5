from __future__ import annotations

import asyncio

import pytest

from tokenwire.broker.memory import MemoryBroker
from tokenwire.errors import RegistryFull
from tokenwire.events import RunStatus
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run


def _run(broker: MemoryBroker, run_id: str, key: str | None = None) -> Run:
    return Run(
        id=run_id,
        route="chat",
        log=broker.create(run_id),
        on_disconnect="cancel",
        grace_seconds=0.0,
        trace_id="t",
        idempotency_key=key,
    )


def test_finished_runs_expire_after_the_retention_period() -> None:
    broker = MemoryBroker()
    registry = RunRegistry(broker, max_runs=10, retention_seconds=60)
    done, live = _run(broker, "done", key="k"), _run(broker, "live")
    registry.add(done)
    registry.add(live)
    done.finish(RunStatus.COMPLETED, {})
    assert registry.sweep(now=done.ended_at + 59) == 0  # type: ignore[operator]
    assert registry.sweep(now=done.ended_at + 61) == 1  # type: ignore[operator]
    assert registry.get("done") is None and broker.get("done") is None
    assert registry.by_idempotency_key("chat", "k") is None
    assert registry.get("live") is live


def test_the_oldest_finished_run_makes_room_and_live_runs_are_never_evicted() -> None:
    broker = MemoryBroker()
    registry = RunRegistry(broker, max_runs=2, retention_seconds=600)
    first, second = _run(broker, "a"), _run(broker, "b")
    registry.add(first)
    registry.add(second)
    first.finish(RunStatus.COMPLETED, {})
    registry.add(_run(broker, "c"))
    assert registry.get("a") is None and len(registry) == 2
    with pytest.raises(RegistryFull):
        registry.add(_run(broker, "d"))


async def test_last_subscriber_leaving_cancels_after_the_grace_period() -> None:
    broker = MemoryBroker()
    run = _run(broker, "r")
    run.grace_seconds = 0.05
    run.task = asyncio.create_task(asyncio.sleep(10))
    run.attach()
    run.detach()
    run.attach()  # a rejoin within the grace period keeps the run
    await asyncio.sleep(0.1)
    assert not run.task.cancelled()
    run.detach()
    await asyncio.sleep(0.1)
    assert run.task.cancelled()
    assert run.cancel_reason == "client disconnected"


async def test_continue_policy_never_cancels() -> None:
    run = _run(MemoryBroker(), "r")
    run.on_disconnect = "continue"
    run.task = asyncio.create_task(asyncio.sleep(0.05))
    run.attach()
    run.detach()
    await run.task
