"""Whatever raises while a run starts or ends, it ends: exactly one ``run.end``, a terminal
status, and nothing it held (a live slot, a run-end hook) left behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tokenwire.broker.memory import MemoryEventLog
from tokenwire.config import Settings
from tokenwire.events import EventType, RunStatus
from tokenwire.gateway import Gateway, Hooks
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.rules import DenyRule
from tokenwire.routes import Route
from tokenwire.runs.execution import end_run
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run
from tokenwire.testing import collect

Serve = Callable[..., httpx.Client]


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


#: Inputs no serialiser of the gateway takes as they are (orjson: nesting past 254 levels,
#: lone surrogates, integers past 64 bits) — what a front end parsing with ``json`` let in.
HOSTILE_INPUTS = [
    pytest.param(_nested(300), id="nested-300"),
    pytest.param({"q": "a\ud800b"}, id="lone-surrogate"),
    pytest.param({"n": 1 << 70}, id="huge-int"),
]


async def _words(_: Any) -> AsyncIterator[str]:
    for word in ("no ", "usage ", "reported"):  # a runnable no provider reports usage for
        yield word


async def _finish(gateway: Gateway, run: Run) -> list[str]:
    assert run.task is not None
    await asyncio.wait_for(asyncio.shield(run.task), 10)
    events = [e async for batch in run.log.read(0) for e in batch]
    return [e.type for e in events]


@pytest.mark.parametrize("value", HOSTILE_INPUTS)
async def test_a_run_over_a_hostile_input_ends_once(value: Any, tmp_path: Path) -> None:
    route = Route("echo", RunnableLambda(_words), mode="tokens")
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)))
    async with gateway.lifespan():
        run, _ = await gateway.start_run("echo", value)
        types = await _finish(gateway, run)
    assert types.count("run.end") == 1 and types[-1] == "run.end"
    assert run.status is RunStatus.COMPLETED
    assert run.summary["usage"]["estimated"] is True
    assert gateway.registry.live() == []


@pytest.mark.parametrize("value", HOSTILE_INPUTS)
async def test_input_moderation_over_a_hostile_input_ends_the_run(
    value: Any, tmp_path: Path
) -> None:
    rails = Guardrails(input_rules=(DenyRule("jailbreak", "ignore previous instructions"),))
    route = Route("echo", RunnableLambda(_words), mode="tokens", guardrails=rails)
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)))
    async with gateway.lifespan():
        run, _ = await gateway.start_run("echo", value)
        types = await _finish(gateway, run)
    assert types.count("run.end") == 1
    assert run.status is RunStatus.COMPLETED


async def test_a_failing_start_still_ends_the_run_and_frees_its_slot(tmp_path: Path) -> None:
    """The key's budget lookup (a quota store) raises while the run is being set going."""
    route = Route("echo", RunnableLambda(_words), mode="tokens")

    def broken_budget(owner: str) -> Any:
        raise ConnectionError("quota store unreachable")

    ended: list[str] = []
    hooks = Hooks(key_budget=broken_budget, run_end=(lambda run: ended.append(run.id),))
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)), hooks=hooks)
    async with gateway.lifespan():
        run, created = await gateway.start_run("echo", "hi")
        types = await _finish(gateway, run)
    assert created
    assert types == ["run.start", "error", "usage", "run.end"]
    assert run.status is RunStatus.FAILED
    assert run.summary["error"]["code"] == "internal"
    assert ended == [run.id] and gateway.registry.live() == []


async def test_a_failing_run_end_step_does_not_skip_the_others(tmp_path: Path) -> None:
    route = Route("echo", RunnableLambda(_words), mode="tokens")
    ended: list[str] = []

    def broken(run: Run) -> None:
        raise RuntimeError("quota charge failed")

    hooks = Hooks(run_end=(broken, lambda run: ended.append(run.id)))
    gateway = Gateway([route], Settings(auth="none", data_dir=str(tmp_path)), hooks=hooks)
    async with gateway.lifespan():
        run, _ = await gateway.start_run("echo", "hi")
        await _finish(gateway, run)
        await asyncio.sleep(0)  # the task's done-callbacks
    assert ended == [run.id]


def test_an_output_no_encoder_takes_still_streams(serve: Serve) -> None:
    """The runnable returns what orjson refuses: ``run.end`` carries a plain copy."""

    async def odd(_: Any) -> dict[str, Any]:
        return {"n": 1 << 70, "s": "a\ud800b", "deep": _nested(300)}

    client = serve([Route("odd", RunnableLambda(odd))])
    events = collect(client, "odd", {"input": "x"})
    end = [e for e in events if e.event == "run.end"]
    assert len(end) == 1 and events[-1].event == "run.end"
    output = end[0].data["output"]
    assert output["n"] == str(1 << 70) and output["s"] == "a\\ud800b"


def test_end_run_survives_a_usage_that_raises() -> None:
    log = MemoryEventLog("r1", 100)
    run = Run("r1", "chat", log, "cancel", 0, "t" * 32)
    recorder = RunRecorder(log)
    log.append(EventType.RUN_START, {"run_id": "r1"})
    recorder.token("partial")

    def usage() -> dict[str, Any]:
        raise RecursionError("maximum recursion depth exceeded")

    end_run(run, recorder, RunStatus.COMPLETED, "partial", None, usage=usage)
    types = [e.type for e in log.since(0)]
    assert types == ["run.start", "token", "error", "usage", "run.end"]
    assert run.status is RunStatus.FAILED
    assert run.summary["error"]["code"] == "internal"
    assert run.summary["output"] == "partial"
