"""``WS /v1/ws`` with the ``websockets`` client over a live gateway."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableGenerator
from websockets.sync.client import ClientConnection, connect

from tests.protocols.helpers import PROMPTS, native_input, native_text
from tests.protocols.hitl import approval_graph, question_graph
from tokenwire.broker.memory import MemoryEventLog
from tokenwire.demo.routes import demo_model, demo_routes
from tokenwire.gateway import Gateway
from tokenwire.protocols.websocket import Outbox
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.server.ws_api import SocketSession
from tokenwire.testing import mock_record, wait_for_status

Serve = Callable[..., httpx.Client]


def ws(client: httpx.Client) -> ClientConnection:
    return connect(str(client.base_url).replace("http://", "ws://").rstrip("/") + "/v1/ws")


def send(socket: ClientConnection, **message: Any) -> None:
    socket.send(json.dumps(message))


def receive(socket: ClientConnection) -> dict[str, Any]:
    return dict(json.loads(socket.recv(timeout=10)))


def reply(socket: ClientConnection, **message: Any) -> dict[str, Any]:
    """Send a request and return its ack/nack/pong (run events in between are skipped)."""
    send(socket, **message)
    while True:
        answer = receive(socket)
        if "seq" not in answer:
            return answer


def until_end(socket: ClientConnection, runs: int) -> dict[str, list[dict[str, Any]]]:
    """Run events per run id until ``runs`` runs have sent ``run.end``."""
    events: dict[str, list[dict[str, Any]]] = {}
    ended = 0
    while ended < runs:
        message = receive(socket)
        if "seq" in message:
            events.setdefault(message["run_id"], []).append(message)
            ended += message["type"] == "run.end"
    return events


def text(events: list[dict[str, Any]]) -> str:
    return "".join(e["data"]["text"] for e in events if e["type"] == "token")


@pytest.fixture
def client(serve: Serve, mock_url: str) -> httpx.Client:
    return serve(demo_routes(f"{mock_url}/v1"), disconnect_grace_seconds=0.05)


def test_three_runs_multiplexed_on_one_socket(client: httpx.Client) -> None:
    with ws(client) as socket:
        run_ids = {}
        for route in ("chat", "rag", "agent"):
            send(socket, type="start", route=route, input=native_input(route), id=route)
        events: dict[str, list[dict[str, Any]]] = {}
        ended = 0
        while ended < 3:
            message = receive(socket)
            if message["type"] == "ack":
                assert message["op"] == "start" and message["created"] is True
                run_ids[message["id"]] = message["run_id"]
            elif "seq" in message:
                events.setdefault(message["run_id"], []).append(message)
                ended += message["type"] == "run.end"
    assert set(events) == set(run_ids.values())
    for route, run_id in run_ids.items():
        run_events = events[run_id]
        assert [e["seq"] for e in run_events] == list(range(1, len(run_events) + 1))
        assert run_events[0]["type"] == "run.start" and run_events[-1]["type"] == "run.end"
        assert text(run_events) == native_text(client, route)
        assert run_events[-1]["data"]["status"] == "completed"
    kinds = [e["type"] for e in events[run_ids["agent"]]]
    assert kinds.index("tool.start") < kinds.index("tool.end") < kinds.index("token")
    assert "retrieval" in [e["type"] for e in events[run_ids["rag"]]]


def test_openai_messages_start_a_run_too(client: httpx.Client) -> None:
    with ws(client) as socket:
        messages = [{"role": "user", "content": PROMPTS["agent"]}]
        assert reply(socket, type="start", route="agent", messages=messages)["op"] == "start"
        [events] = until_end(socket, 1).values()
    assert text(events) == native_text(client, "agent")


def test_resume_from_a_cursor_on_another_socket(serve: Serve, mock_url: str) -> None:
    route = Route("chat", demo_model(f"{mock_url}/v1", "tokens=30,itl=10"))
    client = serve([route], disconnect_grace_seconds=2.0)
    with ws(client) as socket:
        run_id = reply(socket, type="start", route="chat", input="hi")["run_id"]
        first = [receive(socket) for _ in range(4)]
    with ws(client) as socket:
        answer = reply(socket, type="resume", run_id=run_id, after=4)
        assert answer == {"type": "ack", "op": "resume", "id": None, "run_id": run_id, "after": 4}
        [rest] = until_end(socket, 1).values()
    seqs = [e["seq"] for e in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    assert rest[-1]["data"]["status"] == "completed"
    assert text(first + rest) == route.runnable.invoke("hi").content


def test_cancel_stops_generation(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))])
    with ws(client) as socket:
        run_id = reply(socket, type="start", route="chat", input="hi")["run_id"]
        while receive(socket)["type"] != "token":
            pass
        answer = reply(socket, type="cancel", run_id=run_id, id=7)
        assert answer == {
            "type": "ack",
            "op": "cancel",
            "id": 7,
            "run_id": run_id,
            "cancelled": True,
        }
        [events] = until_end(socket, 1).values()
    assert events[-1]["data"]["status"] == "cancelled"
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200


def test_a_socket_that_disconnects_cancels_its_runs(serve: Serve, mock_url: str) -> None:
    client = serve(
        [Route("chat", demo_model(f"{mock_url}/v1", "tokens=200,itl=20"))],
        disconnect_grace_seconds=0.05,
    )
    with ws(client) as socket:
        run_id = reply(socket, type="start", route="chat", input="hi")["run_id"]
        for _ in range(4):
            receive(socket)
    record = mock_record(mock_url, lambda r: r["outcome"] == "client_disconnected")
    assert record["tokens_sent"] < 200
    assert wait_for_status(client, run_id, "cancelled")["error"]["code"] == "cancelled"


def test_requests_that_cannot_work_get_a_nack_and_the_socket_stays_open(
    client: httpx.Client,
) -> None:
    with ws(client) as socket:
        socket.send("{not json")
        assert receive(socket)["code"] == "invalid_message"
        bad = reply(socket, type="fly", id="x")
        assert (bad["type"], bad["status"], bad["id"]) == ("nack", 400, "x")
        assert "unknown message type 'fly'" in bad["message"]
        approve = reply(socket, type="approve", run_id="r", call_id="c", id=1)
        assert (approve["status"], approve["code"]) == (400, "invalid_message")
        assert "'approve' needs a 'thread_id' string" in approve["message"]
        missing = reply(socket, type="start", route="nope", input="x")
        assert (missing["status"], missing["code"]) == (404, "unknown_route")
        invalid = reply(socket, type="start", route="rag", input={"x": 1})
        assert (invalid["status"], invalid["code"]) == (422, "invalid_request")
        unknown = reply(socket, type="resume", run_id="nope", after=0)
        assert (unknown["status"], unknown["code"]) == (404, "unknown_run")
        cursor = reply(socket, type="resume", run_id="nope", after=-1)
        assert cursor["code"] == "invalid_message"
        config = reply(socket, type="start", route="chat", input="x", config=["tags"])
        assert (config["code"], config["message"]) == (
            "invalid_message",
            "'config' must be an object",
        )
        no_input = reply(socket, type="start", route="chat", messages=["hi"])
        assert no_input["code"] == "invalid_message" and "'messages'" in no_input["message"]
        assert reply(socket, type="ping", id=3) == {"type": "pong", "id": 3}


def test_a_slow_reader_gets_every_event_exactly_once(serve: Serve, mock_url: str) -> None:
    client = serve([Route("chat", demo_model(f"{mock_url}/v1", "tokens=3000,itl=0,ttft=0"))])
    with ws(client) as socket:
        run_id = reply(socket, type="start", route="chat", input="hi")["run_id"]
        wait_for_status(client, run_id, "completed")  # the run finished without waiting
        [events] = until_end(socket, 1).values()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["type"] == "token" for e in events) == 3000


class _StuckSocket:
    """A peer that never reads: every send blocks."""

    async def send_text(self, _: str) -> None:
        await asyncio.Event().wait()


async def test_a_socket_that_falls_behind_stops_reading_the_log() -> None:
    gateway = Gateway([])
    log = MemoryEventLog("r", 100_000)
    for i in range(5_000):
        log.append("token", {"text": f"{i} "})
    run = Run("r", "chat", log, "continue", 0.0, "t")
    session = SocketSession(gateway, Outbox(max_events=16))
    sender = asyncio.ensure_future(session._send(_StuckSocket()))  # type: ignore[arg-type]
    session.follow(run, 0)
    await asyncio.sleep(0.2)
    # One message in the stuck send, 16 queued, one put waiting: the rest stays in the log.
    assert session.outbox.pending_events == 16
    assert session.cursors["r"] <= 18
    session.feeds["r"].cancel()
    sender.cancel()
    await asyncio.gather(sender, *session.feeds.values(), return_exceptions=True)
    assert run.subscribers == 0


def _run(socket: ClientConnection, op: str, **message: Any) -> list[dict[str, Any]]:
    """Start (or approve) one run on the socket and return its events."""
    ack = reply(socket, type=op, id=op, **message)
    assert (ack["type"], ack["op"]) == ("ack", op), ack
    (events,) = until_end(socket, 1).values()
    assert all(e["run_id"] == ack["run_id"] for e in events)
    return events


def test_a_thread_pauses_for_approval_and_approve_resumes_it(serve: Serve) -> None:
    client = serve([Route("review", approval_graph())])
    with ws(client) as socket:
        first = _run(socket, "start", route="review", input={"messages": []}, thread_id="w-1")
        (paused,) = [e["data"] for e in first if e["type"] == "interrupt"]
        (approval,) = [e["data"] for e in first if e["type"] == "approval.required"]
        assert approval["interrupt_id"] == paused["interrupt_id"]
        assert (approval["name"], approval["args"]) == ("send_email", {"to": "ada"})
        assert approval["allowed_decisions"] == ["approve", "reject"]
        assert first[-1]["data"]["status"] == "interrupted"
        assert first[-1]["data"]["finish_reason"] == "interrupt"
        decision = {"call_id": approval["call_id"], "type": "reject", "message": "not now"}
        second = _run(socket, "approve", thread_id="w-1", decisions=[decision])
        end = second[-1]["data"]
        assert (end["status"], end["output"]) == ("completed", "reject: not now")
        # Nothing waits any more: a second answer is refused, the socket stays open.
        again = reply(socket, type="approve", id=2, thread_id="w-1", decisions=[decision])
        assert (again["type"], again["status"], again["code"]) == ("nack", 422, "invalid_request")
        assert reply(socket, type="ping", id=3)["type"] == "pong"


def test_start_carries_thread_id_and_a_resume_command(serve: Serve) -> None:
    client = serve([Route("ask", question_graph())])
    with ws(client) as socket:
        first = _run(socket, "start", route="ask", input={"messages": []}, thread_id="w-2")
        assert first[0]["data"]["thread_id"] == "w-2"
        assert [e["data"]["value"] for e in first if e["type"] == "interrupt"] == [
            {"question": "which colour?"}
        ]
        assert not [e for e in first if e["type"] == "approval.required"]
        busy = dict(route="ask", thread_id="w-2", command={"resume": "teal"}, multitask="reject")
        second = _run(socket, "start", **busy)
        assert second[-1]["data"]["output"] == "teal"
        unknown = reply(socket, type="approve", id=4, thread_id="never", decisions=[])
        assert (unknown["status"], unknown["code"]) == (404, "unknown_thread")
        cases: list[tuple[dict[str, Any], str]] = [
            ({"command": {"resume": 1}}, "'command' needs a 'thread_id'"),
            ({"thread_id": "w-2", "command": {"resume": 1}, "input": {}}, "takes the place"),
            ({"thread_id": "w-2", "input": {}, "multitask": "queue"}, "'multitask' must be"),
        ]
        for bad, detail in cases:
            refused = reply(socket, type="start", route="ask", id=5, **bad)
            assert (refused["code"], detail in refused["message"]) == ("invalid_message", True)


def test_a_socket_run_reports_its_delivery_lag_and_queue(serve: Serve) -> None:
    release = threading.Event()

    async def first_then_wait(_: AsyncIterator[Any]) -> AsyncIterator[str]:
        yield "first"
        await asyncio.to_thread(release.wait, 30)
        yield " last"

    client = serve([Route("held", RunnableGenerator(first_then_wait))])
    try:
        with ws(client) as socket:
            assert reply(socket, type="start", route="held", input="hi", id=1)["type"] == "ack"
            while receive(socket)["type"] != "token":
                pass
            release.set()  # the first token is on the socket: the run may end now
            (events,) = until_end(socket, 1).values()
    finally:
        release.set()
    timings = events[-1]["data"]["timings"]
    assert timings["delivery_lag_max_ms"] is not None and timings["delivery_lag_max_ms"] >= 0
    # The start message's arrival, then the launch, then the first token.
    assert 0 <= timings["queue_ms"] < timings["ttft_ms"]
