"""Runs of one thread never interleave: a second start while one is live is refused (409)
unless its ``multitask`` strategy says to wait, to interrupt the live run or to roll it
back; and a thread is its owner's alone.
"""

from __future__ import annotations

import asyncio
import operator
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import httpx
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from tokenwire import Route
from tokenwire.security.credentials import ApiKey, Credentials, hash_key
from tokenwire.security.principal import Role
from tokenwire.testing import collect, poll_until, serve, test_settings


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


class Gate:
    """Holds a ``slow`` run inside its node until released (a threading event: the
    gateway's loop runs in another thread)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.entries = 0

    async def work(self, state: State) -> State:
        if state["log"][-1] == "slow":
            self.entries += 1
            self.entered.set()
            while not self.release.is_set():  # noqa: ASYNC110 (a threading event)
                await asyncio.sleep(0.01)
        return {"log": ["worked"]}


def _graph(gate: Gate) -> Any:
    builder = StateGraph(State)
    builder.add_node("work", gate.work)
    builder.add_edge(START, "work")
    builder.add_edge("work", END)
    return builder.compile()


@pytest.fixture
def gate() -> Iterator[Gate]:
    gate = Gate()
    yield gate
    gate.release.set()


def _start(client: httpx.Client, entry: str, **fields: Any) -> httpx.Response:
    body = {"input": {"log": [entry]}, "thread_id": "t", **fields}
    return client.post("/v1/routes/work/runs", json=body)


def _background_slow(client: httpx.Client, gate: Gate) -> str:
    response = _start(client, "slow")
    assert response.status_code == 202, response.text
    assert gate.entered.wait(30), "the slow run never reached its node"
    run_id: str = response.json()["run_id"]
    return run_id


def _status(client: httpx.Client, run_id: str) -> str:
    status: str = client.get(f"/v1/runs/{run_id}").json()["status"]
    return status


def _log(client: httpx.Client) -> list[str]:
    log: list[str] = client.get("/v1/threads/t").json()["values"]["log"]
    return log


def test_a_second_start_is_refused_while_the_thread_is_live(gate: Gate, tmp_path: Any) -> None:
    with serve([Route("work", _graph(gate))], data_dir=str(tmp_path)) as client:
        first = _background_slow(client, gate)
        refused = _start(client, "fast")
        assert refused.status_code == 409, refused.text
        assert first in refused.json()["detail"]
        gate.release.set()
        poll_until(lambda: _status(client, first) == "completed", timeout=30)
        assert collect(client, "work", {"input": {"log": ["fast"]}, "thread_id": "t"})
        assert _log(client) == ["slow", "worked", "fast", "worked"]


def test_interrupt_cancels_the_live_run_and_keeps_its_progress(gate: Gate, tmp_path: Any) -> None:
    with serve([Route("work", _graph(gate))], data_dir=str(tmp_path)) as client:
        collect(client, "work", {"input": {"log": ["zero"]}, "thread_id": "t"})
        first = _background_slow(client, gate)
        body = {"input": {"log": ["fast"]}, "thread_id": "t", "multitask": "interrupt"}
        assert collect(client, "work", body)[-1].data["status"] == "completed"
        assert _status(client, first) == "cancelled"
        assert _log(client) == ["zero", "worked", "slow", "fast", "worked"]


def test_rollback_starts_from_where_the_live_run_began(gate: Gate, tmp_path: Any) -> None:
    with serve([Route("work", _graph(gate), multitask="rollback")], data_dir=str(tmp_path)) as c:
        collect(c, "work", {"input": {"log": ["zero"]}, "thread_id": "t"})
        first = _background_slow(c, gate)
        assert collect(c, "work", {"input": {"log": ["fast"]}, "thread_id": "t"})
        assert _status(c, first) == "cancelled"
        assert _log(c) == ["zero", "worked", "fast", "worked"]  # "slow" never happened


def test_rollback_after_rollback_starts_where_the_first_rolled_back_run_began(
    gate: Gate, tmp_path: Any
) -> None:
    """The second rollback must not land on the branch the first one abandoned."""
    with serve([Route("work", _graph(gate), multitask="rollback")], data_dir=str(tmp_path)) as c:
        collect(c, "work", {"input": {"log": ["zero"]}, "thread_id": "t"})
        first = _background_slow(c, gate)
        second = _start(c, "slow")
        assert second.status_code == 202, second.text
        poll_until(lambda: gate.entries >= 2, timeout=30)
        assert collect(c, "work", {"input": {"log": ["fast"]}, "thread_id": "t"})
        assert _status(c, first) == _status(c, second.json()["run_id"]) == "cancelled"
        assert _log(c) == ["zero", "worked", "fast", "worked"]


def test_rollback_of_a_threads_first_run_starts_it_over(gate: Gate, tmp_path: Any) -> None:
    with serve([Route("work", _graph(gate), multitask="rollback")], data_dir=str(tmp_path)) as c:
        _background_slow(c, gate)
        assert collect(c, "work", {"input": {"log": ["fast"]}, "thread_id": "t"})
        assert _log(c) == ["fast", "worked"]


def test_enqueue_waits_for_the_live_run(gate: Gate, tmp_path: Any) -> None:
    with (
        serve([Route("work", _graph(gate))], data_dir=str(tmp_path)) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first = _background_slow(client, gate)
        body = {"input": {"log": ["fast"]}, "thread_id": "t", "multitask": "enqueue"}
        queued = pool.submit(collect, client, "work", body)
        assert _status(client, first) == "running" and not queued.done()
        gate.release.set()
        assert queued.result(60)[-1].data["status"] == "completed"
        assert _status(client, first) == "completed"
        assert _log(client) == ["slow", "worked", "fast", "worked"]


KEYS = Credentials(
    keys=[
        *(ApiKey(n, hash_key(f"sk-{n}")) for n in ("alice", "bob")),
        ApiKey("mod", hash_key("sk-mod"), roles=frozenset({Role.CLIENT, Role.MODERATOR})),
    ]
)
ALICE = {"Authorization": "Bearer sk-alice"}
MODERATOR = {"Authorization": "Bearer sk-mod"}


@pytest.mark.parametrize("own_checkpointer", [False, True])
def test_a_thread_is_its_owners_alone(gate: Gate, tmp_path: Any, own_checkpointer: bool) -> None:
    settings = test_settings(data_dir=str(tmp_path), auth="required")
    alice = ALICE
    bob = {"Authorization": "Bearer sk-bob"}
    graph = _graph(gate)
    if own_checkpointer:  # the gateway's replaces it: ownership holds all the same
        graph = graph.copy(update={"checkpointer": InMemorySaver()})
    with serve([Route("work", graph)], settings, credentials=KEYS) as client:
        body = {"input": {"log": ["zero"]}, "thread_id": "t"}
        started = client.post("/v1/routes/work/runs", json=body, headers=alice)
        assert started.status_code == 202
        poll_until(
            lambda: (
                client.get(f"/v1/runs/{started.json()['run_id']}", headers=alice).json()["status"]
                == "completed"
            ),
            timeout=30,
        )
        assert client.get("/v1/threads/t", headers=alice).status_code == 200
        assert client.get("/v1/threads/t", headers=bob).status_code == 404
        assert client.get("/v1/threads/t/history", headers=bob).status_code == 404
        taken = client.post("/v1/routes/work/runs", json=body, headers=bob)
        assert taken.status_code == 404, taken.text
        assert client.post("/v1/routes/work/runs", json=body, headers=alice).status_code == 202


def test_another_callers_live_run_still_holds_the_thread(gate: Gate, tmp_path: Any) -> None:
    """A moderator's run on a client's thread is invisible to the client — and still
    holds the thread: the client's start is refused, never run beside it."""
    settings = test_settings(data_dir=str(tmp_path), auth="required")
    with serve([Route("work", _graph(gate))], settings, credentials=KEYS) as client:
        assert collect_as(client, ALICE, {"input": {"log": ["zero"]}, "thread_id": "t"})
        slow = {"input": {"log": ["slow"]}, "thread_id": "t"}
        started = client.post("/v1/routes/work/runs", json=slow, headers=MODERATOR)
        assert started.status_code == 202, started.text
        assert gate.entered.wait(30)
        body = {"input": {"log": ["fast"]}, "thread_id": "t"}
        refused = client.post("/v1/routes/work/runs", json=body, headers=ALICE)
        assert refused.status_code == 409, refused.text


def collect_as(client: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> bool:
    response = client.post(
        "/v1/routes/work/runs", json=body, headers={**headers, "Accept": "text/event-stream"}
    )
    assert response.status_code == 200, response.text
    return "run.end" in response.text
