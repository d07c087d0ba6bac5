"""Redis Streams broker: a run's log lives in the process that runs it, mirrored to Redis so
any replica can follow it.

The owning process keeps the in-memory log (its own subscribers pay nothing extra per
token) and mirrors its events to a Redis Stream. Mirroring is batched twice: appends only
queue, one flusher sends everything queued in one pipeline per round trip, and the events
of one run queued meanwhile become one stream entry. An entry holds consecutive events and
its id is the seq of its last one (``<seq>-0``), so ids still order and locate events.
Explicit ids make every write exactly-once: a second writer for the same seqs (a replica
that wrongly took the run for dead and ended it) is refused by Redis, never duplicated.

Another replica follows a log with ``XREAD BLOCK`` into a local copy of the same in-memory
log, so writers, encoders and cursors work identically on both sides. A gap in the stream
(events that never reached Redis, or a Redis that restarted empty while the owner has not yet
re-published the log) is waited out for a while, then ends the copy as an interrupted stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson

from tokenwire.broker.memory import MemoryBroker, MemoryEventLog
from tokenwire.events import ErrorCode, Event, EventType, RunStatus

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

__all__ = [
    "FollowedEventLog",
    "MirroredEventLog",
    "RedisBroker",
    "RedisKeys",
    "decode_events",
    "encode_events",
    "stream_entries",
]

log = logging.getLogger("tokenwire.broker")

#: One pipeline carries at most this many queued operations (the rest go in the next).
_BATCH = 2_000
#: Events queued while Redis is unreachable, per broker, before the oldest are dropped.
_MAX_QUEUED = 200_000
_RETRY_SECONDS = 0.5
#: How long queued events wait for company before they are sent (unless run records are).
_LINGER_SECONDS = 0.002
#: Events per stream entry at most (a follower's read is counted in entries).
_ENTRY_EVENTS = 500
#: ``XREAD BLOCK`` timeout: how often a follower re-checks that it should still follow.
_BLOCK_MS = 1_000
#: How often a follower looks again at a stream with a gap in it.
_GAP_POLL_SECONDS = 0.05


class RedisKeys:
    """Every key tokenwire uses, under one prefix (several deployments can share a Redis)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def log(self, run_id: str) -> str:
        return f"{self.prefix}:log:{run_id}"

    def run(self, run_id: str) -> str:
        return f"{self.prefix}:run:{run_id}"

    def replica(self, replica_id: str) -> str:
        return f"{self.prefix}:replica:{replica_id}"

    def owner(self, alias: str) -> str:
        """The set of an API key's live runs (concurrent-stream limits)."""
        return f"{self.prefix}:owner:{alias}"

    def alias(self, name: str) -> str:
        """A protocol's own handle for a run (an AI SDK chat id)."""
        return f"{self.prefix}:alias:{name}"

    def idempotency(self, route: str, key: str) -> str:
        return f"{self.prefix}:idem:{route}:{key}"

    def thread(self, scope: str, thread_id: str) -> str:
        """The run a LangGraph thread is live on (``scope`` is unused: threads are global)."""
        return f"{self.prefix}:thread:{thread_id}"

    def action(self, scope: str, key: str) -> str:
        """The run an ``@action`` call is in flight in (``scope`` is unused: keys are
        global)."""
        return f"{self.prefix}:action:{key}"

    def rollout(self, route: str) -> str:
        """A route's rollout state (``tokenwire.rollout``)."""
        return f"{self.prefix}:rollout:{route}"

    @property
    def live(self) -> str:
        return f"{self.prefix}:live"

    @property
    def control(self) -> str:
        return f"{self.prefix}:control"


def encode_events(events: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    """A stream entry's one field ``e``: consecutive events as ``[[type, data], ...]`` (the
    entry id is the last one's seq)."""
    return orjson.dumps(list(events))


def decode_events(entry_id: bytes, fields: dict[bytes, bytes]) -> list[Event]:
    pairs = orjson.loads(fields[b"e"])
    first = int(entry_id.partition(b"-")[0]) - len(pairs) + 1
    return [Event(first + i, type, data) for i, (type, data) in enumerate(pairs)]


def stream_entries(events: Sequence[Event]) -> Iterator[tuple[str, bytes]]:
    """Consecutive ``events`` as stream entries: ``(id, payload)``, the id being the seq of
    the entry's last event (at most ``_ENTRY_EVENTS`` events each)."""
    for start in range(0, len(events), _ENTRY_EVENTS):
        chunk = events[start : start + _ENTRY_EVENTS]
        yield f"{chunk[-1].seq}-0", encode_events((e.type, e.data) for e in chunk)


class MirroredEventLog(MemoryEventLog):
    """The owner's log: in memory as always, every append also queued for Redis."""

    __slots__ = ("_broker",)

    def __init__(self, run_id: str, max_events: int, broker: RedisBroker) -> None:
        super().__init__(run_id, max_events)
        self._broker = broker

    def append(self, type: str, data: dict[str, Any], *, terminal: bool = False) -> Event:
        event = super().append(type, data, terminal=terminal)
        self._broker.mirror(self._run_id, event)
        return event

    def close(self) -> None:
        super().close()
        self._broker.closed(self._run_id)


class FollowedEventLog(MemoryEventLog):
    """A copy of another replica's log, filled from its Redis Stream.

    ``follow`` starts one ``XREAD BLOCK`` loop (on its own connection: a blocking read
    holds one); it stops at ``run.end``, or at ``unfollow`` when nobody here reads any more.

    Events missing before the next ones the stream holds are waited for up to
    ``gap_patience`` seconds (the owner re-publishes a log Redis lost in a restart); after
    that the copy ends as an interrupted stream, since they can never be replayed here.
    """

    __slots__ = ("_client", "_follower", "_gap_patience", "_gap_since", "_key", "on_end")

    def __init__(self, run_id: str, client: Redis, key: str, *, gap_patience: float = 0.0) -> None:
        super().__init__(run_id, max_events=1 << 62)
        self._client = client
        self._key = key
        #: Called with ``run.end`` when the followed log reaches it.
        self.on_end: Callable[[Event], None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._gap_patience = gap_patience
        #: When (loop time) this copy first found events missing ahead of it.
        self._gap_since: float | None = None

    def append(self, type: str, data: dict[str, Any], *, terminal: bool = False) -> Event:
        raise TypeError("a followed log is written by the replica that owns the run")

    async def load(self) -> None:
        """Catch up once with what the stream holds now (no waiting)."""
        entries = await self._client.xrange(self._key, min=f"({self.last_seq}-0")
        self._add(entries)

    def follow(self) -> None:
        if self._follower is None and not self._closed:
            self._follower = asyncio.get_running_loop().create_task(self._follow())

    def unfollow(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            self._follower = None

    async def _follow(self) -> None:
        while not self._closed:
            try:
                reply = await self._client.xread(
                    {self._key: f"{self.last_seq}-0"}, count=_BATCH, block=_BLOCK_MS
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: keep the subscriber, try again
                log.warning("following run %s: %s", self._run_id, exc)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            for _key, entries in reply or ():
                self._add(entries)
            if self._gap_since is not None:  # the same entries would come back at once
                await asyncio.sleep(_GAP_POLL_SECONDS)
        self._follower = None

    def _add(self, entries: list[Any]) -> None:
        added = False
        for event in self._held_next(entries):
            self._open.append(event)
            added = True
            if event.type == EventType.RUN_END:
                self._closed = True
                if self.on_end is not None:
                    self.on_end(event)
        if added:
            self._wake()
        if self._closed:
            self.close()

    def _held_next(self, entries: list[Any]) -> Iterator[Event]:
        """The events of ``entries`` that come next, up to a gap (see the class)."""
        for entry_id, fields in entries:
            for event in decode_events(entry_id, fields):
                if self._closed or event.seq <= len(self._events):
                    continue  # already held (a load raced the follower)
                if event.seq > len(self._events) + 1:
                    if not self._gap_lasted():
                        return
                    event = self._lost(event.seq)
                self._gap_since = None
                yield event

    def _gap_lasted(self) -> bool:
        now = asyncio.get_running_loop().time()
        if self._gap_since is None:
            self._gap_since = now
        return now - self._gap_since >= self._gap_patience

    def _lost(self, seq: int) -> Event:
        log.error("run %s: events before seq %d never reached Redis", self._run_id, seq)
        error = {
            "code": ErrorCode.INCOMPLETE_STREAM.value,
            "message": "part of this run's events were lost; retry the request",
            "retryable": True,
        }
        self._open.append(Event(len(self._events) + 1, EventType.ERROR, error))
        end = {"status": RunStatus.FAILED.value, "output": None, "error": error}
        return Event(len(self._events) + 1, EventType.RUN_END, end)


class RedisBroker(MemoryBroker):
    """Logs of this process's runs, mirrored to Redis; logs of other replicas' runs, followed.

    ``later`` queues any other write (run records) into the same batched pipeline, after the
    events queued before it.
    """

    def __init__(
        self,
        client: Redis,
        *,
        keys: RedisKeys,
        max_events_per_run: int = 100_000,
        retention_seconds: float = 600.0,
    ) -> None:
        super().__init__(max_events_per_run)
        self.client = client
        self.keys = keys
        self._retention_ms = max(int(retention_seconds * 1000), 1)
        # Queued writes, in order: an event (run id, event) or a pipeline call.
        self._queue: list[tuple[str, Event] | Callable[[Pipeline], Any]] = []
        self._urgent: list[Callable[[Pipeline], Any]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # -- Broker (the logs themselves are kept as by MemoryBroker) ---------------------------
    def _new_log(self, run_id: str) -> MirroredEventLog:
        return MirroredEventLog(run_id, self._max_events, self)

    async def ping(self) -> bool:
        return bool(await cast("Awaitable[bool]", self.client.ping()))

    # -- mirroring ---------------------------------------------------------------------------
    def mirror(self, run_id: str, event: Event) -> None:
        self._enqueue((run_id, event))

    def closed(self, run_id: str) -> None:
        key, ttl = self.keys.log(run_id), self._retention_ms
        self.later(lambda pipe: pipe.pexpire(key, ttl))

    def later(self, write: Callable[[Pipeline], Any], *, urgent: bool = False) -> None:
        """Queue ``write``; ``urgent`` ones go out in the next round trip, ahead of the rest."""
        if urgent:
            self._urgent.append(write)
            self._start_flusher()
        else:
            self._enqueue(write)

    def follow(self, run_id: str, *, gap_patience: float = 0.0) -> FollowedEventLog:
        key = self.keys.log(run_id)
        return FollowedEventLog(run_id, self.client, key, gap_patience=gap_patience)

    async def flushed(self, wait_seconds: float = 5.0) -> bool:
        """Wait until everything queued so far reached Redis; False on timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), wait_seconds)
        except TimeoutError:
            return False
        return True

    async def aclose(self) -> None:
        """Send what is queued (briefly), then close the connection pool."""
        await self.flushed(2.0)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.client.aclose()

    def _enqueue(self, item: tuple[str, Event] | Callable[[Pipeline], Any]) -> None:
        queue = self._queue
        if len(queue) >= _MAX_QUEUED:
            # Only events are dropped (a follower then ends that stream as incomplete); run
            # records and ownership are never lost, or a run could stay "live" for good.
            oldest = queue[:_BATCH]
            kept = [item for item in oldest if not isinstance(item, tuple)]
            queue[:_BATCH] = kept
            log.error("Redis is not keeping up: dropped %d queued events", len(oldest) - len(kept))
        queue.append(item)
        self._start_flusher()

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._idle.clear()
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._urgent or self._queue:
                if not self._urgent and len(self._queue) < _BATCH:
                    # Linger a moment so one round trip carries what a busy loop appends
                    # meanwhile: a pipelined command costs far more than a token.
                    await asyncio.sleep(_LINGER_SECONDS)
                urgent, self._urgent = self._urgent, []
                batch = self._queue[:_BATCH]
                try:
                    # Urgent writes lead the batch, so they go ahead of its events.
                    await self._send([*urgent, *batch])
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # Redis unreachable: keep the batch, try again
                    log.warning("mirroring to Redis failed (%s); retrying", exc)
                    self._urgent[:0] = urgent
                    await asyncio.sleep(_RETRY_SECONDS)
                    continue
                del self._queue[: len(batch)]
        finally:
            self._flusher = None
            if not self._queue and not self._urgent:
                self._idle.set()

    async def _send(self, batch: Sequence[tuple[str, Event] | Callable[[Pipeline], Any]]) -> None:
        # Each run's events of this batch become one entry (a pipelined command costs far
        # more than a token). Writes queued ahead of every event (run records, re-published
        # logs) go first; the other writes follow the events, in their order.
        per_run: dict[str, list[Event]] = {}
        leading: list[Callable[[Pipeline], Any]] = []
        writes: list[Callable[[Pipeline], Any]] = []
        for item in batch:
            if isinstance(item, tuple):
                per_run.setdefault(item[0], []).append(item[1])
            else:
                (writes if per_run else leading).append(item)
        async with self.client.pipeline(transaction=False) as pipe:
            for write in leading:
                write(pipe)
            for run_id, events in per_run.items():
                key = self.keys.log(run_id)
                for entry_id, payload in stream_entries(events):
                    pipe.xadd(key, {"e": payload}, id=entry_id)
            for write in writes:
                write(pipe)
            results = await pipe.execute(raise_on_error=False)
        refused = [result for result in results if isinstance(result, Exception)]
        if refused:
            # Ids Redis already holds: another replica ended this run as orphaned, or the
            # owner re-published the log after a Redis restart.
            log.warning("Redis refused %d mirrored writes: %s", len(refused), refused[0])
