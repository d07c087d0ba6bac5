"""The WebSocket protocol: JSON messages, many runs multiplexed on one socket.

Client → server (``id`` is an optional correlation id echoed in the reply):

- ``{"type": "start", "route", "input" | "messages", "config"?, "on_disconnect"?,
  "metadata"?, "idempotency_key"?, "thread_id"?, "command"?, "multitask"?, "id"?}`` —
  start a run and follow it; ``thread_id`` runs it on a LangGraph thread, ``command``
  (``{"resume": value}``, in place of ``input``) resumes that thread, ``multitask`` is
  what to do when the thread still has a live run — as on the native HTTP API;
- ``{"type": "resume", "run_id", "after"?, "id"?}`` — follow a run from a cursor (replays
  events with ``seq > after``, then live); replaces this socket's feed of that run;
- ``{"type": "cancel", "run_id", "id"?}`` — stop generation now;
- ``{"type": "detach", "run_id", "id"?}`` — stop following a run (its policy applies);
- ``{"type": "approve", "thread_id", "decisions": [{call_id, type, args?, name?,
  message?}], "metadata"?, "on_disconnect"?, "id"?}`` — answer the tool calls a thread
  waits for (its ``approval.required`` events) and resume it: the resumed run is acked
  and followed exactly as a ``start`` (``{"type": "ack", "op": "approve", "run_id",
  "created"}``), as ``POST /v1/threads/{thread_id}/approvals`` starts it;
- ``{"type": "ping", "id"?}`` → ``{"type": "pong", "id"}``.

Server → client:

- run events: ``{"run_id", "seq", "type", "data"}`` — ``type`` is the canonical event
  type (``run.start`` … ``run.end``), exactly the native protocol's events — so a run
  that pauses sends ``interrupt`` and ``approval.required`` events and ends with
  ``run.end`` ``{"status": "interrupted", "finish_reason": "interrupt"}``;
- ``{"type": "ack", "op", "id", "run_id", ...}`` for a request that worked;
- ``{"type": "nack", "op", "id", "status", "code", "message"}`` for one that did not
  (``status`` is the HTTP status the same request gets on the HTTP API).

Control replies carry no ``seq``, so they cannot be mistaken for run events.

Backpressure: each socket has an :class:`Outbox` with a bounded queue of run events. A
run's feed awaits room in it before reading further from the run's log, so a socket that
falls behind stops *reading* — the log is the buffer, and the feed resumes from its
cursor. Control replies skip the queue (a ``cancel`` must work while the socket lags) but
are bounded too: a client that floods requests without reading replies is disconnected.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tokenwire.events import Event
from tokenwire.protocols.client_json import InvalidJSON, loads

__all__ = [
    "OPS",
    "ControlOverflow",
    "Outbox",
    "ProtocolError",
    "ack",
    "event_message",
    "nack",
    "parse_message",
    "pong",
]

OPS = frozenset({"start", "resume", "cancel", "detach", "approve", "ping"})


class ProtocolError(ValueError):
    """A client message that cannot be understood (answered with a ``nack``)."""

    def __init__(self, message: str, op: str | None = None, id: Any = None) -> None:
        super().__init__(message)
        self.op = op
        self.id = id


class ControlOverflow(Exception):
    """Too many control replies are waiting: the client sends but does not read."""


def parse_message(raw: str | bytes) -> dict[str, Any]:
    """A client message as a dict with a known ``type``; raises :class:`ProtocolError`."""
    try:
        message = loads(raw)
    except InvalidJSON as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    op, id = message.get("type"), message.get("id")
    if op not in OPS:
        raise ProtocolError(f"unknown message type {op!r}; expected one of {sorted(OPS)}", None, id)
    if op in {"resume", "cancel", "detach"} and not isinstance(message.get("run_id"), str):
        raise ProtocolError(f"'{op}' needs a 'run_id' string", op, id)
    if op == "start":
        _check_start(message, id)
    if op == "approve":
        _check_approve(message, id)
    after = message.get("after", 0)
    if op == "resume" and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
        raise ProtocolError("'after' must be an event seq (an integer >= 0)", op, id)
    return message


def _check_start(message: dict[str, Any], id: Any) -> None:
    if not isinstance(message.get("route"), str):
        raise ProtocolError("'start' needs a 'route' string", "start", id)
    _check_thread(message, id)
    messages = message.get("messages")
    if message.get("command") is not None:
        if "input" in message or "messages" in message:
            raise ProtocolError("'command' takes the place of 'input'", "start", id)
    elif "input" not in message and not (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        raise ProtocolError(
            "'start' needs an 'input', or 'messages' as a list of {role, content} objects",
            "start",
            id,
        )
    for key in ("config", "metadata"):
        if message.get(key) is not None and not isinstance(message[key], dict):
            raise ProtocolError(f"'{key}' must be an object", "start", id)
    if message.get("on_disconnect") not in (None, "cancel", "continue"):
        raise ProtocolError("'on_disconnect' must be 'cancel' or 'continue'", "start", id)
    if message.get("idempotency_key") is not None and not isinstance(
        message["idempotency_key"], str
    ):
        raise ProtocolError("'idempotency_key' must be a string", "start", id)


_MULTITASK = (None, "reject", "enqueue", "interrupt", "rollback")


def _check_thread(message: dict[str, Any], id: Any) -> None:
    thread_id = message.get("thread_id")
    if thread_id is not None and not isinstance(thread_id, str):
        raise ProtocolError("'thread_id' must be a string", "start", id)
    if message.get("command") is not None:
        if not isinstance(message["command"], dict):
            raise ProtocolError("'command' must be an object", "start", id)
        if thread_id is None:
            raise ProtocolError("'command' needs a 'thread_id': it resumes a thread", "start", id)
    if message.get("multitask") not in _MULTITASK:
        allowed = "', '".join(m for m in _MULTITASK if m)
        raise ProtocolError(f"'multitask' must be one of '{allowed}'", "start", id)


def _check_approve(message: dict[str, Any], id: Any) -> None:
    if not isinstance(message.get("thread_id"), str):
        raise ProtocolError("'approve' needs a 'thread_id' string", "approve", id)
    if not isinstance(message.get("decisions"), list):
        raise ProtocolError("'approve' needs 'decisions' as a list", "approve", id)
    if message.get("metadata") is not None and not isinstance(message["metadata"], dict):
        raise ProtocolError("'metadata' must be an object", "approve", id)
    if message.get("on_disconnect") not in (None, "cancel", "continue"):
        raise ProtocolError("'on_disconnect' must be 'cancel' or 'continue'", "approve", id)


def event_message(run_id: str, event: Event) -> str:
    return orjson.dumps(
        {"run_id": run_id, "seq": event.seq, "type": event.type, "data": event.data}
    ).decode()


def ack(op: str, id: Any, **fields: Any) -> str:
    return orjson.dumps({"type": "ack", "op": op, "id": id, **fields}).decode()


def nack(
    op: str | None, id: Any, status: int, code: str, message: str, retry_after: int | None = None
) -> str:
    """A refused request; ``retry_after`` (seconds) is what HTTP puts in ``Retry-After``."""
    reply = {"type": "nack", "op": op, "id": id, "status": status, "code": code}
    if retry_after is not None:
        reply["retry_after"] = retry_after
    return orjson.dumps({**reply, "message": message}).decode()


def pong(id: Any) -> str:
    return orjson.dumps({"type": "pong", "id": id}).decode()


#: Called once a message is on the socket.
Sent = Callable[[], None]


@dataclass
class Outbox:
    """What one socket has yet to send: a bounded queue of run events plus control
    replies, which go first. A run event may carry ``on_sent``, called once it is on the
    socket (a token's delivery lag)."""

    max_events: int = 256
    max_control: int = 64

    def __post_init__(self) -> None:
        self._events: asyncio.Queue[tuple[str, Sent | None]] = asyncio.Queue(self.max_events)
        self._control: deque[str] = deque()
        self._wake = asyncio.Event()

    @property
    def pending_events(self) -> int:
        return self._events.qsize()

    async def put_event(self, message: str, on_sent: Sent | None = None) -> None:
        """Wait for room, then queue a run event (this wait *is* the backpressure)."""
        await self._events.put((message, on_sent))
        self._wake.set()

    def put_control(self, message: str) -> None:
        if len(self._control) >= self.max_control:
            raise ControlOverflow(f"{len(self._control)} replies unread")
        self._control.append(message)
        self._wake.set()

    async def next(self) -> tuple[str, Sent | None]:
        """The next message to send: control replies first, then run events in order."""
        while True:
            if self._control:
                return self._control.popleft(), None
            if not self._events.empty():
                return self._events.get_nowait()
            self._wake.clear()
            await self._wake.wait()
