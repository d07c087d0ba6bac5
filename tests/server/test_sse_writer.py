"""The SSE writer over a run's log: coalescing loses nothing, keeps order and ids, and
never delays the first token after a quiet spell; heartbeats, lifetime and disconnects."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from tokenwire.broker.memory import MemoryEventLog
from tokenwire.protocols.native_sse import NativeEncoder
from tokenwire.protocols.subscription import LogFeed
from tokenwire.server.sse import EventStreamResponse, IteratorFeed
from tokenwire.testing import parse_events


class Connection:
    """An ASGI peer: records every body write; ``leave()`` is the client disconnecting."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.ended = False
        self._left = asyncio.Event()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body":
            assert not self.ended, "a write after the end of the body"
            if message["body"]:
                self.writes.append(message["body"])
            self.ended = not message.get("more_body", False)

    async def receive(self) -> Message:
        await self._left.wait()
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self._left.set()

    @property
    def body(self) -> bytes:
        return b"".join(self.writes)


def _serve(response: EventStreamResponse, peer: Connection) -> asyncio.Task[None]:
    scope: dict[str, Any] = {"type": "http"}
    return asyncio.get_running_loop().create_task(response(scope, peer.receive, peer.send))


def _token(log: MemoryEventLog, n: int) -> None:
    log.append("token", {"text": f"t{n} "})


def _ids_and_texts(body: bytes) -> tuple[list[int | None], str]:
    events = [e for e in parse_events(body) if e.event == "token"]
    return [e.id for e in events], "".join(str(e.data["text"]) for e in events)


async def test_coalescing_merges_writes_but_loses_nothing_and_keeps_every_id() -> None:
    log = MemoryEventLog("r", 10_000)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), coalesce_seconds=0.05), peer)
    for n in range(1, 201):  # 200 tokens about 1 ms apart: far faster than one write / 50 ms
        _token(log, n)
        await asyncio.sleep(0.001)
    log.close()
    await asyncio.wait_for(task, 5)
    ids, text = _ids_and_texts(peer.body)
    assert ids == list(range(1, 201))
    assert text == "".join(f"t{n} " for n in range(1, 201))
    assert len(peer.writes) < 40  # merged: ~0.2 s of tokens at ≤ one write per 50 ms
    assert peer.ended


async def test_only_a_proven_fast_stream_is_held_and_its_end_cuts_the_hold_short() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), coalesce_seconds=1.0), peer)
    await asyncio.sleep(0.01)
    _token(log, 1)
    await asyncio.sleep(0.05)
    assert _ids_and_texts(peer.body)[0] == [1]  # the first write: never held
    _token(log, 2)
    await asyncio.sleep(0.05)
    assert _ids_and_texts(peer.body)[0] == [1, 2]  # one write so far: not proven fast yet
    _token(log, 3)
    _token(log, 4)
    await asyncio.sleep(0.05)
    assert _ids_and_texts(peer.body)[0] == [1, 2]  # two writes 50 ms apart: held
    log.close()  # the end cuts a hold short: the stream ends now, not in a second
    await asyncio.wait_for(task, 0.5)
    assert _ids_and_texts(peer.body)[0] == [1, 2, 3, 4]
    assert len(peer.writes) == 3


async def test_the_end_is_never_held() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), coalesce_seconds=5.0), peer)
    for n in (1, 2):  # two writes in quick succession: the stream counts as fast
        _token(log, n)
        await asyncio.sleep(0.01)
    _token(log, 3)
    log.close()  # ...but the log ended before the writer woke: no hold
    await asyncio.wait_for(task, 1)
    assert _ids_and_texts(peer.body)[0] == [1, 2, 3]


async def test_coalescing_off_writes_each_wake_up() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), coalesce_seconds=0), peer)
    for n in range(1, 6):
        _token(log, n)
        await asyncio.sleep(0.01)
    log.close()
    await asyncio.wait_for(task, 5)
    assert len(peer.writes) == 5
    assert _ids_and_texts(peer.body)[0] == [1, 2, 3, 4, 5]


async def test_a_run_that_ends_in_its_first_step_is_one_write_with_the_preamble_and_the_end() -> (
    None
):
    log = MemoryEventLog("r", 100)
    log.append("run.start", {})

    async def run() -> None:  # a zero-delay model: the whole run in the task's first step
        _token(log, 2)
        log.close()

    running = asyncio.get_running_loop().create_task(run())  # first, as a gateway's run is
    peer = Connection()
    response = EventStreamResponse(LogFeed(log, NativeEncoder()), preamble=b"retry: 1000\n\n")
    await asyncio.wait_for(_serve(response, peer), 1)
    await running
    assert len(peer.writes) == 1 and peer.ended
    assert peer.writes[0].startswith(b"retry: 1000\n\n")
    assert [e.event for e in parse_events(peer.body)] == ["run.start", "token"]


async def test_the_preamble_goes_out_at_once_when_the_run_has_nothing_yet() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), preamble=b": hi\n\n"), peer)
    await asyncio.sleep(0.01)
    assert peer.writes == [b": hi\n\n"] and not peer.ended
    _token(log, 1)
    log.close()
    await asyncio.wait_for(task, 1)
    assert len(peer.writes) == 2 and peer.ended


async def test_a_rejoin_after_any_id_gets_exactly_the_rest() -> None:
    log = MemoryEventLog("r", 100)
    for n in range(1, 11):
        _token(log, n)
    log.close()
    for after in (0, 3, 10):
        peer = Connection()
        feed = LogFeed(log, NativeEncoder(), after=after)
        await asyncio.wait_for(_serve(EventStreamResponse(feed, coalesce_seconds=0.05), peer), 5)
        assert _ids_and_texts(peer.body)[0] == list(range(after + 1, 11))


async def test_heartbeat_when_idle_and_the_client_leaving_ends_the_response() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    closed: list[bool] = []
    response = EventStreamResponse(
        LogFeed(log, NativeEncoder()), heartbeat_seconds=0.02, on_close=lambda: closed.append(True)
    )
    task = _serve(response, peer)
    await asyncio.sleep(0.15)
    assert peer.writes.count(b": ping\n\n") >= 3
    peer.leave()
    await asyncio.wait_for(task, 1)
    assert closed == [True] and not peer.ended  # nothing is sent to a client that left


async def test_lifetime_ends_the_stream_cleanly() -> None:
    log = MemoryEventLog("r", 100)
    peer = Connection()
    task = _serve(EventStreamResponse(LogFeed(log, NativeEncoder()), max_seconds=0.05), peer)
    _token(log, 1)
    await asyncio.wait_for(task, 1)
    assert peer.ended and _ids_and_texts(peer.body)[0] == [1]


async def test_a_plain_async_iterator_still_streams() -> None:
    async def chunks() -> Any:
        for n in range(3):
            yield b"data: %d\n\n" % n
            await asyncio.sleep(0.01)

    peer = Connection()
    await asyncio.wait_for(_serve(EventStreamResponse(IteratorFeed(chunks())), peer), 2)
    assert peer.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n" and peer.ended


async def test_the_fast_path_takes_only_streaming_posts_to_its_path() -> None:
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response

    from tokenwire.server.direct_route import FastPath

    seen: list[str] = []

    async def endpoint(request: Request) -> Response:
        seen.append(f"fast {request.path_params['route']}")
        return PlainTextResponse("fast")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(f"app {scope['path']}")
        await PlainTextResponse("app")(scope, receive, send)

    fast = FastPath(app, path="/v1/routes/{route}/runs", endpoint=endpoint)
    sse = [(b"accept", b"text/event-stream")]
    for method, path, headers in [
        ("POST", "/v1/routes/chat/runs", sse),
        ("POST", "/api/v1/routes/qa/runs", sse),  # under root_path /api
        ("POST", "/v1/routes/chat/runs", [(b"accept", b"application/json")]),
        ("GET", "/v1/routes/chat/runs", sse),
        ("POST", "/v1/routes/a/b/runs", sse),
    ]:
        root = "/api" if path.startswith("/api") else ""
        scope = {"type": "http", "method": method, "path": path, "root_path": root,
                 "headers": headers, "query_string": b""}  # fmt: skip
        await fast(scope, Connection().receive, Connection().send)
    assert seen == [
        "fast chat",
        "fast qa",
        "app /v1/routes/chat/runs",
        "app /v1/routes/chat/runs",
        "app /v1/routes/a/b/runs",
    ]
