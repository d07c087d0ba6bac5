"""``WS /v1/ws``: the native operations as JSON messages, many runs on one socket.

The message vocabulary and the backpressure rule are in :mod:`tokenwire.protocols.websocket`.
Per socket: a receive loop handling client messages, a send loop draining the
:class:`~tokenwire.protocols.websocket.Outbox`, and one feed task per followed run. The
first loop to end (client gone, send failed) ends the session; every feed then detaches
from its run, so a disconnect applies each run's ``on_disconnect`` policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from tokenwire.errors import ClusterUnavailable, RunRefused
from tokenwire.events import stamp_of
from tokenwire.gateway import Gateway
from tokenwire.protocols.refusals import websocket_refusal
from tokenwire.protocols.websocket import (
    ControlOverflow,
    Outbox,
    ProtocolError,
    ack,
    event_message,
    nack,
    parse_message,
    pong,
)
from tokenwire.runs.inputs import input_from_messages
from tokenwire.runs.run import Run
from tokenwire.server.guard import unauthenticated
from tokenwire.threads import ThreadRequest
from tokenwire.usage.timing import arrived_at

__all__ = ["SocketSession", "create_ws_router"]

log = logging.getLogger("tokenwire.ws")


def create_ws_router(gateway: Gateway, *, max_queued_events: int = 256) -> APIRouter:
    """``max_queued_events``: run events a socket may have waiting to be sent before its
    feeds stop reading run logs."""
    router = APIRouter()

    @router.websocket("/v1/ws")
    async def websocket_endpoint(websocket: WebSocket) -> None:
        if unauthenticated(gateway):  # closed before accept: the handshake answers 403
            await websocket.close(code=4401, reason="authentication is not installed")
            return
        await websocket.accept()
        await SocketSession(gateway, Outbox(max_queued_events)).serve(websocket)

    return router


class SocketSession:
    """One socket's runs: which it follows, from which cursor."""

    def __init__(self, gateway: Gateway, outbox: Outbox) -> None:
        self.gateway = gateway
        self.outbox = outbox
        self.feeds: dict[str, asyncio.Task[None]] = {}
        #: Requests waiting on Redis (runs or idempotency keys of other replicas).
        self.lookups: set[asyncio.Future[Any]] = set()
        #: Set when the socket is gone: a lookup finishing late must not start a feed.
        self.closed = False
        #: The seq of the last event of each run handed to the outbox.
        self.cursors: dict[str, int] = {}

    async def serve(self, websocket: WebSocket) -> None:
        tasks = [
            asyncio.ensure_future(self._receive(websocket)),
            asyncio.ensure_future(self._send(websocket)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.closed = True
            pending: list[asyncio.Future[Any]] = [*tasks, *self.feeds.values(), *self.lookups]
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, *self.feeds.values(), return_exceptions=True)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await websocket.close(1008 if tasks[0].done() and _overflowed(tasks[0]) else 1000)

    async def _receive(self, websocket: WebSocket) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                frame = await websocket.receive()
                if frame["type"] == "websocket.disconnect":
                    return
                raw = frame.get("text") or frame.get("bytes") or b""
                self.handle(raw)

    async def _send(self, websocket: WebSocket) -> None:
        while True:
            message, on_sent = await self.outbox.next()
            await websocket.send_text(message)
            if on_sent is not None:
                on_sent()

    def handle(self, raw: str | bytes) -> None:
        """Answer one client message (replies go through the outbox)."""
        try:
            message = parse_message(raw)
        except ProtocolError as exc:
            self.outbox.put_control(nack(exc.op, exc.id, 400, "invalid_message", str(exc)))
            return
        op, id = message["type"], message.get("id")
        try:
            self._dispatch(op, message, id)
        except ControlOverflow:
            raise
        except Exception:
            # One bad request must not take the socket's other runs down with it.
            log.exception("websocket request %r failed", op)
            self.outbox.put_control(nack(op, id, 500, "internal", "the request failed"))

    def _dispatch(self, op: str, message: dict[str, Any], id: Any) -> None:
        if op == "ping":
            self.outbox.put_control(pong(id))
        elif op in ("start", "approve"):
            self._start(op, message, id)
        else:
            self._on_run(op, message["run_id"], message, id)

    def _start(self, op: str, message: dict[str, Any], id: Any) -> None:
        # The start may wait (the caller's limits, perhaps in Redis, or a key held by
        # another replica's run): the socket's other requests are answered meanwhile.
        # Its run's TTFT counts from now, the message's arrival (the task copies it).
        token = arrived_at.set(self.gateway.telemetry.clock())
        try:
            task = asyncio.ensure_future(self._start_admitted(op, message, id))
        finally:
            arrived_at.reset(token)
        self.lookups.add(task)
        task.add_done_callback(self.lookups.discard)

    async def _start_admitted(self, op: str, message: dict[str, Any], id: Any) -> None:
        try:
            if op == "approve":
                arguments = await self._approve_arguments(message)
            else:
                arguments = self._start_arguments(message)
            run, created = await self.gateway.start_run(**arguments, protocol="ws")
        except RunRefused as exc:
            self.outbox.put_control(websocket_refusal(op, id, exc))
            return
        except Exception:
            log.exception("websocket %s failed", op)
            self.outbox.put_control(nack(op, id, 500, "internal", "the request failed"))
            return
        self._started(op, run, created, id)

    def _start_arguments(self, message: dict[str, Any]) -> dict[str, Any]:
        route = self.gateway.route(message["route"])
        value = message.get("input")
        if "input" not in message and message.get("command") is None:
            value = input_from_messages(route.runnable, message["messages"])
        thread = None
        if message.get("thread_id") is not None:
            thread = ThreadRequest(
                message["thread_id"], message.get("command"), message.get("multitask")
            )
        return {
            "route_name": route.name,
            "input": value,
            "config": message.get("config"),
            "on_disconnect": message.get("on_disconnect"),
            "metadata": {"protocol": "websocket", **(message.get("metadata") or {})},
            "idempotency_key": message.get("idempotency_key"),
            "thread": thread,
        }

    async def _approve_arguments(self, message: dict[str, Any]) -> dict[str, Any]:
        """The resumed run of ``POST /v1/threads/{id}/approvals``, as start arguments."""
        thread_id = message["thread_id"]
        return {
            "route_name": await self.gateway.threads.route_of(thread_id),
            "input": None,
            "on_disconnect": message.get("on_disconnect"),
            "metadata": {"protocol": "websocket", **(message.get("metadata") or {})},
            "idempotency_key": message.get("idempotency_key"),
            "thread": ThreadRequest(thread_id, decisions=message["decisions"]),
        }

    def _started(self, op: str, run: Run, created: bool, id: Any) -> None:
        self.outbox.put_control(ack(op, id, run_id=run.id, created=created))
        self.follow(run, 0)

    def _on_run(self, op: str, run_id: str, message: dict[str, Any], id: Any) -> None:
        run = self.gateway.get_run(run_id)
        if run is None and self.gateway.cluster is not None:
            # Maybe another replica's run: look it up in Redis, then answer.
            lookup = asyncio.ensure_future(self.gateway.find_run(run_id))
            lookup.add_done_callback(lambda done: self._on_found(op, run_id, done, message, id))
            self.lookups.add(lookup)
            lookup.add_done_callback(self.lookups.discard)
            return
        self._on_run_found(op, run_id, run, message, id)

    def _on_found(
        self,
        op: str,
        run_id: str,
        lookup: asyncio.Future[Run | None],
        message: dict[str, Any],
        id: Any,
    ) -> None:
        if lookup.cancelled():
            return
        failure = lookup.exception()
        if isinstance(failure, ClusterUnavailable):
            self.outbox.put_control(websocket_refusal(op, id, failure))
            return
        if failure is not None:
            log.error("looking up run %s failed: %r", run_id, failure)
            self.outbox.put_control(nack(op, id, 500, "internal", "the lookup failed"))
            return
        self._on_run_found(op, run_id, lookup.result(), message, id)

    def _on_run_found(
        self, op: str, run_id: str, run: Run | None, message: dict[str, Any], id: Any
    ) -> None:
        if run is None:
            reason = f"no run {run_id!r} (it may have expired)"
            self.outbox.put_control(nack(op, id, 404, "unknown_run", reason))
            return
        if op == "resume":
            self.outbox.put_control(ack(op, id, run_id=run_id, after=message.get("after", 0)))
            self.follow(run, message.get("after", 0))
        elif op == "cancel":
            cancelled = run.cancel("cancelled by request")
            self.outbox.put_control(ack(op, id, run_id=run_id, cancelled=cancelled))
        else:  # detach
            feed = self.feeds.pop(run_id, None)
            if feed is not None:
                feed.cancel()
            self.outbox.put_control(ack(op, id, run_id=run_id, following=feed is not None))

    def follow(self, run: Run, after: int) -> None:
        """Feed ``run``'s events after ``after`` to this socket (replacing any feed of it)."""
        if self.closed:
            return
        # Attach before the old feed detaches: with no grace period, a moment without a
        # subscriber would cancel the run.
        run.attach()
        previous = self.feeds.pop(run.id, None)
        if previous is not None:
            previous.cancel()
        self.cursors[run.id] = after
        self.feeds[run.id] = asyncio.ensure_future(self._feed(run, after))

    async def _feed(self, run: Run, after: int) -> None:
        batches = run.log.read(after)
        delivery = run.recorder.delivery if run.recorder is not None else None
        since = delivery.now() if delivery is not None else 0.0  # before: a replay, no lag
        try:
            async for batch in batches:
                for event in batch:
                    on_sent, at = None, stamp_of(event)
                    if delivery is not None and at is not None and at >= since:
                        on_sent = functools.partial(delivery.written, at)
                    await self.outbox.put_event(event_message(run.id, event), on_sent)
                    self.cursors[run.id] = event.seq
        finally:
            run.detach()
            aclose = getattr(batches, "aclose", None)
            if aclose is not None:
                await aclose()
            if self.feeds.get(run.id) is asyncio.current_task():
                del self.feeds[run.id]


def _overflowed(task: asyncio.Task[None]) -> bool:
    return not task.cancelled() and isinstance(task.exception(), ControlOverflow)
