"""A run cancelled while one of its actions executes: the call may already have reached its
system of record, so it is finished and recorded, not forgotten — a retry of the request
replays it instead of creating a second ticket. Async and sync actions, cancelled by the
client (``POST /v1/runs/{id}/cancel``) or by its disconnecting (``on_disconnect=cancel``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda

from tests.actions.crm import Crm
from tokenwire import Route
from tokenwire.actions import action
from tokenwire.testing import iter_sse, poll_until, serve, start_stream

_KEY = {"Idempotency-Key": "order-7"}
_BODY = {"input": {"title": "refund"}}


def _slow_crm_chain(url: str, answered: threading.Event, *, sync: bool) -> Any:
    """An action whose ticket is created at once but whose answer waits for ``answered``:
    the run is cancelled between the two."""
    created = threading.Event()

    @action(name="create_ticket")
    async def create_async(title: str) -> dict[str, Any]:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{url}/tickets", json={"title": title})
        created.set()
        await asyncio.to_thread(answered.wait, 30)
        ticket: dict[str, Any] = response.json()
        return ticket

    @action(name="create_ticket")
    def create_sync(title: str) -> dict[str, Any]:
        ticket: dict[str, Any] = httpx.post(f"{url}/tickets", json={"title": title}).json()
        created.set()
        answered.wait(30)
        return ticket

    async def call_async(payload: dict[str, Any]) -> Any:
        return await create_async(payload["title"])

    def call_sync(payload: dict[str, Any]) -> Any:
        return create_sync(payload["title"])

    chain = RunnableLambda(call_sync) if sync else RunnableLambda(call_async)
    return chain, created


def _cancelled_by_request(client: httpx.Client, created: threading.Event) -> str:
    started = client.post("/v1/routes/file/runs", json=_BODY, headers=_KEY)
    assert started.status_code == 202
    run_id: str = started.json()["run_id"]
    assert created.wait(30)
    assert client.post(f"/v1/runs/{run_id}/cancel").status_code == 200
    return run_id


def _cancelled_by_disconnect(client: httpx.Client, created: threading.Event) -> str:
    body = {**_BODY, "on_disconnect": "cancel"}
    with start_stream(client, "file", body, **_KEY) as response:
        assert response.status_code == 200
        events = iter_sse(response)  # kept: a dropped iterator closes the stream
        start = next(events)
        assert start.event == "run.start"
        run_id: str = start.data["run_id"]
        assert created.wait(30)
    return run_id  # the stream closed: its run is cancelled


@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
@pytest.mark.parametrize(
    "cancel", [_cancelled_by_request, _cancelled_by_disconnect], ids=["cancel", "disconnect"]
)
def test_an_action_outlives_its_runs_cancel_and_a_retry_replays_it(
    crm: tuple[Crm, str],
    tmp_path: Any,
    sync: bool,
    cancel: Callable[[httpx.Client, threading.Event], str],
) -> None:
    records, url = crm
    answered = threading.Event()
    chain, created = _slow_crm_chain(url, answered, sync=sync)
    routes = [Route("file", chain, mode="events")]
    with serve(
        routes,
        data_dir=str(tmp_path),
        retention_seconds=0,
        sweep_interval_seconds=0.05,
        disconnect_grace_seconds=0,
    ) as client:
        run_id = cancel(client, created)
        answered.set()  # the system of record answers after the cancel

        def recorded() -> Any:
            found = client.get("/v1/actions", params={"run_id": run_id}).json()["actions"]
            return found[0] if found and found[0]["status"] != "running" else None

        entry = poll_until(recorded, timeout=30, message="the call's outcome was not recorded")
        assert (entry["status"], entry["result"]) == ("succeeded", {"id": 1})
        # The run ended after its call did, so its metrics count the call.
        series = 'tokenwire_actions_total{action="create_ticket",route="file",status="succeeded"}'
        poll_until(lambda: f"{series} 1.0" in client.get("/metrics").text, timeout=30)
        poll_until(lambda: client.get(f"/v1/runs/{run_id}").status_code == 404, timeout=30)
        with start_stream(client, "file", _BODY, **_KEY) as again:  # a new run: replays
            events = list(iter_sse(again))
    assert events[0].data["run_id"] != run_id
    done = events[-1].data
    assert (done["status"], done["output"]) == ("completed", {"id": 1})
    assert len(records.tickets) == 1


async def test_a_call_that_outlives_its_run_past_the_commit_deadline_is_failed() -> None:
    from tokenwire.actions import ActionScope, MemoryLedger, action_scope

    started, never = asyncio.Event(), asyncio.Event()

    @action
    async def hang(title: str) -> str:
        started.set()
        await never.wait()  # a system of record that never answers
        return "late"

    ledger = MemoryLedger()
    scope = ActionScope("run:r", "r", ledger, asyncio.get_running_loop(), commit_timeout=0.05)

    async def run() -> None:
        with action_scope(scope):
            await hang("refund")

    task = asyncio.create_task(run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (entry,) = await ledger.entries()
    assert entry.status == "failed" and entry.error is not None
    assert entry.error.startswith("TimeoutError: still running 0.05 s after its run")
    assert not scope.executing
