"""Replicas sharing runs through Redis: any replica serves any subscriber.

A run still executes in the replica that started it. What the others need lives in Redis:

* the run's **record** (route, owner, status; a hash, expiring with the run's retention),
  written in the broker's batched pipeline when the run starts and when it ends;
* its **log** (a Redis Stream, see :mod:`tokenwire.broker.redis`), which a replica follows
  for a subscriber that landed on it;
* one **control channel** (pub/sub): a subscriber elsewhere attaching or leaving, and
  cancellation, reach the owning replica's ``Run`` exactly as a local subscriber would;
* replica **heartbeats**: a key per replica with a TTL. A sweeper on every replica ends a
  live run whose replica stopped beating with ``incomplete_stream`` — atomically, by one
  Lua script, so two sweepers never both end it — and the one that ended it has it audited
  (:mod:`.orphans`).

Redis may go away and come back empty. Meanwhile a lookup raises :class:`ClusterUnavailable`
(a 503 to retry, not a 404: the run may well exist); afterwards the heartbeat notices its
key is gone, or that beating failed, and re-publishes this replica's runs
(:mod:`.republish`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import orjson

from tokenwire.actions.ledger import Ledger
from tokenwire.broker.redis import RedisBroker, RedisKeys
from tokenwire.cluster.action_claims import ClaimedLedger
from tokenwire.cluster.orphans import EndedOrphan, Orphans
from tokenwire.cluster.published import PublishedRuns
from tokenwire.cluster.remote import RemoteRun
from tokenwire.cluster.run_record import FIELDS, remote_run
from tokenwire.errors import ClusterUnavailable
from tokenwire.events import RunStatus
from tokenwire.runs.idempotency import SharedClaims
from tokenwire.runs.run import Run

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from tokenwire.config import Settings
    from tokenwire.runs.registry import RunRegistry

__all__ = ["Cluster", "redis_broker"]

log = logging.getLogger("tokenwire.cluster")

#: Pauses before looking a missing run up again (its record may still be in flight).
_LOOKUP_RETRIES = (0.02, 0.1, 0.0)


class Cluster:
    """This replica's part in sharing runs: records, control messages, heartbeats, sweeping.

    ``keep_inputs``: keep each live run's request input in its record, so that a survivor
    can audit the run if this replica dies (set when the gateway audits); it is removed when
    the run ends. ``on_orphan_ended`` is called with each run of a dead replica this
    replica's sweeper ended, and the input kept for it.
    """

    def __init__(
        self,
        broker: RedisBroker,
        registry: RunRegistry,
        *,
        replica_id: str | None = None,
        replica_ttl_seconds: float = 10.0,
        retention_seconds: float = 600.0,
        max_run_seconds: float = 3600.0,
        keep_inputs: bool = False,
        on_orphan_ended: Callable[[EndedOrphan], None] | None = None,
    ) -> None:
        self.broker = broker
        self.registry = registry
        self.keys: RedisKeys = broker.keys
        self.replica_id = replica_id or os.urandom(8).hex()
        self._ttl = replica_ttl_seconds
        self._retention_ms = max(int(retention_seconds * 1000), 1)
        self._following: dict[str, RemoteRun] = {}
        #: Subscribers other replicas attached to this replica's runs: replica → run → count,
        #: so a replica that dies leaves no subscriber counted (``on_disconnect`` still acts).
        self._remote_subscribers: dict[str, Counter[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: PubSub | None = None
        self._orphans = Orphans(broker, self._retention_ms)
        self._on_orphan_ended = on_orphan_ended
        #: When the heartbeat last reached Redis (wall clock), and whether it failed since.
        self._beaten_at: float | None = None
        self._beat_failed = False
        claim_ms = self._retention_ms + int(max_run_seconds * 1000)
        # Held for a live run's whole life: ``closed`` re-arms it for the retention period.
        self.claims = SharedClaims(broker.client, self.keys, claim_ms)
        #: The runs threads are live on, shared so that two replicas never run one thread.
        self.thread_claims = SharedClaims(
            broker.client, self.keys, claim_ms, key_of=self.keys.thread
        )
        #: The action ledger with this replica's calls in flight claimed (:meth:`claimed`).
        self.action_claims: ClaimedLedger | None = None
        #: This replica's runs as Redis holds them.
        self.published = PublishedRuns(
            broker,
            registry,
            self.replica_id,
            retention_ms=self._retention_ms,
            claim_ms=claim_ms,
            keep_inputs=keep_inputs,
        )

    @property
    def client(self) -> Redis:
        return self.broker.client

    # -- this replica's runs ----------------------------------------------------------------
    def opened(self, run: Run, input: Any = None) -> None:
        """Publish ``run``'s record; ``input`` is kept with it if ``keep_inputs``."""
        self.published.opened(run, input)

    def closed(self, run: Run) -> None:
        self.published.closed(run)

    def claimed(self, ledger: Ledger) -> ClaimedLedger:
        """``ledger`` with the ``@action`` calls in flight here claimed in Redis, for a
        replica's TTL at a time, renewed by the heartbeat (:mod:`.action_claims`)."""
        claims = SharedClaims(
            self.client, self.keys, int(self._ttl * 1000), key_of=self.keys.action
        )
        self.action_claims = ClaimedLedger(ledger, claims)
        return self.action_claims

    # -- other replicas' runs ---------------------------------------------------------------
    async def lookup(self, run_id: str) -> RemoteRun | None:
        """The run ``run_id`` as another replica runs (or ran) it; None if Redis has no
        usable record of it. Raises ``ClusterUnavailable`` if Redis cannot be reached.

        A run a subscriber here already follows is shared; otherwise its log is read once."""
        run = self._following.get(run_id)
        if run is not None:
            return run
        with _reaching_redis():
            return await self._look_up(run_id)

    async def _look_up(self, run_id: str) -> RemoteRun | None:
        key = self.keys.run(run_id)
        for pause in _LOOKUP_RETRIES:
            values = await cast(
                "Awaitable[list[bytes | None]]", self.client.hmget(key, list(FIELDS))
            )
            if any(value is not None for value in values):
                break
            # Started a moment ago elsewhere, its record may still be on its way.
            await asyncio.sleep(pause)
        else:
            return None
        fields = {name: v.decode() for name, v in zip(FIELDS, values, strict=True) if v is not None}
        run = remote_run(run_id, fields, self.broker.follow(run_id, gap_patience=self._ttl))
        if run is None:
            return None
        run.cluster = self
        run.followed.on_end = run.ended
        await run.followed.load()
        if not run.done and fields["status"] != RunStatus.RUNNING.value:
            # Ended, but its log already expired: nothing more will come.
            run.status = RunStatus(fields["status"])
            run.followed.close()
        return run

    def track(self, run: RemoteRun) -> None:
        """Share ``run`` (followed live for a subscriber) with later lookups here."""
        self._following.setdefault(run.id, run)

    def remember(self, name: str, run_id: str) -> None:
        """Point ``name`` (a protocol's handle, such as an AI SDK chat id) at ``run_id`` for
        every replica, as long as runs are retained."""
        key, ttl = self.keys.alias(name), self._retention_ms
        self.broker.later(lambda pipe: pipe.set(key, run_id, px=ttl), urgent=True)

    async def recall(self, name: str, *, patient: bool = True) -> str | None:
        """What ``remember`` pointed ``name`` at; ``patient``: give a write still on its way
        a moment. Raises ``ClusterUnavailable`` if Redis cannot be reached."""
        key = self.keys.alias(name)
        with _reaching_redis():
            for pause in _LOOKUP_RETRIES if patient else (0.0,):
                raw = await cast("Awaitable[bytes | None]", self.client.get(key))
                if raw is not None:
                    return raw.decode()
                await asyncio.sleep(pause)
        return None

    async def live_runs_of(self, owner: str) -> set[str]:
        """The ids of ``owner``'s live runs on every replica, as Redis knows them (a run
        opened or ended here in the last few milliseconds may not be flushed yet)."""
        members = await cast("Awaitable[set[bytes]]", self.client.smembers(self.keys.owner(owner)))
        return {member.decode() for member in members}

    def forget(self, run: RemoteRun) -> None:
        if self._following.get(run.id) is run:
            del self._following[run.id]

    def tell(self, op: str, run_id: str, **data: Any) -> None:
        """Send ``op`` for ``run_id`` to whichever replica owns it (batched, in order)."""
        message = orjson.dumps({"op": op, "run": run_id, "from": self.replica_id, **data})
        channel = self.keys.control
        self.broker.later(lambda pipe: pipe.publish(channel, message))

    # -- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        await self._beat()
        self._pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(self.keys.control)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._listen(self._pubsub)),
            loop.create_task(self._every(self._ttl / 3, self._beat, "replica heartbeat")),
            loop.create_task(self._every(self._ttl / 2, self.sweep_orphans, "sweeping runs")),
        ]

    async def aclose(self) -> None:
        """Stop beating (the runs were ended by the gateway first) and leave the channel."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.release_followers()
        try:
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()  # type: ignore[no-untyped-call]
                self._pubsub = None
            await self.broker.flushed(2.0)
            with contextlib.suppress(Exception):
                await self.client.delete(self.keys.replica(self.replica_id))
        finally:
            await self.broker.aclose()

    def release_followers(self) -> None:
        """Stop following other replicas' runs and end their streams here (shutting down:
        the clients rejoin on another replica from their last event id)."""
        for run in list(self._following.values()):
            run.followed.unfollow()
            run.followed.close()
        self._following.clear()

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                message = await pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("control channel: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            try:
                self._handle(orjson.loads(message["data"]))
            except Exception:  # one bad message must not deafen this replica
                log.exception("control message %r", message.get("data"))

    def _handle(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise ValueError("not a control message")
        run = self.registry.get(str(message.get("run", "")))
        if run is None or isinstance(run, RemoteRun):
            return  # not ours
        op, sender = message.get("op"), str(message.get("from", ""))
        if op == "attach":
            self._remote_subscribers.setdefault(sender, Counter())[run.id] += 1
            run.attach()
        elif op == "detach":
            held = self._remote_subscribers.get(sender)
            if held is not None and held[run.id] > 0:  # not already dropped as gone
                held[run.id] -= 1
                if not held[run.id]:
                    del held[run.id]
                run.detach()
        elif op == "cancel":
            run.cancel(str(message.get("reason") or "cancelled"))

    async def _beat(self) -> None:
        """Renew this replica's key. If it was gone (Redis restarted empty, or this replica
        stalled past its TTL) or beating failed since the last good beat, Redis may have
        lost this replica's runs: re-publish them."""
        key, ttl, now = self.keys.replica(self.replica_id), int(self._ttl * 1000), time.time()
        last = self._beaten_at
        try:
            held = await self.client.set(key, b"1", px=ttl, get=True)
            await self.thread_claims.renew("", self._live_threads())
            if self.action_claims is not None:
                await self.action_claims.renew()
            if last is not None and (held is None or self._beat_failed):
                # A run that ended just before the last good beat may have had its end
                # still queued: a TTL's margin.
                await self.published.republish(ended_since=last - self._ttl)
        except Exception:
            self._beat_failed = True  # until a beat re-publishes, from the last good one
            raise
        self._beaten_at, self._beat_failed = now, False

    def _live_threads(self) -> dict[str, str]:
        """Each thread a live run here is on → that run (the run its claim names)."""
        live = self.registry.live()
        return {r.thread_id: r.id for r in live if r.thread_id and not isinstance(r, RemoteRun)}

    @staticmethod
    async def _every(seconds: float, job: Callable[[], Awaitable[Any]], what: str) -> None:
        """Run ``job`` every ``seconds`` until cancelled; a failure is logged, not fatal."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:
                log.warning("%s failed: %s", what, exc)

    async def sweep_orphans(self) -> int:
        """End every live run whose replica stopped beating (and forget the subscribers such
        replicas had on this replica's runs); returns how many runs this call ended."""
        await self._drop_gone_subscribers()
        live = await cast("Awaitable[set[bytes]]", self.client.smembers(self.keys.live))
        run_ids = [r.decode() for r in live]
        if not run_ids:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for run_id in run_ids:
                pipe.hmget(self.keys.run(run_id), ["replica", "owner"])
            records = await pipe.execute()
        replicas = [replica for replica, _owner in records]
        mine = self.replica_id.encode()
        alive: dict[bytes, bool] = {mine: True}  # this replica is alive: it is sweeping
        for replica in set(replicas) - {None, mine}:
            alive[replica] = bool(await self.client.exists(self.keys.replica(replica.decode())))
        ended = 0
        for run_id, (replica, owner) in zip(run_ids, records, strict=True):
            if replica == mine:
                self._settle_own(run_id, owner.decode() if owner else "")
            elif replica is None or not alive[replica]:
                ended += await self._end(run_id, owner.decode() if owner else "")
        return ended

    async def _drop_gone_subscribers(self) -> None:
        """Detach what replicas that stopped beating had attached to this replica's runs."""
        for replica in list(self._remote_subscribers):
            if await self.client.exists(self.keys.replica(replica)):
                continue
            held = self._remote_subscribers.pop(replica)
            for run_id, count in held.items():
                run = self.registry.get(run_id)
                if run is None:
                    continue
                for _ in range(count):
                    run.detach()

    def _settle_own(self, run_id: str, owner: str) -> None:
        """Re-send the end of one of this replica's runs that Redis still counts as live
        (its first end went missing): a key's live runs must never stay counted."""
        run = self.registry.get(run_id)
        if run is not None and run.done:
            self.closed(run)
        elif run is None:
            live, owners = self.keys.live, self.keys.owner(owner)

            def forget(pipe: Any) -> None:
                pipe.srem(live, run_id)
                pipe.srem(owners, run_id)

            self.broker.later(forget)

    async def _end(self, run_id: str, owner: str) -> int:
        ended = await self._orphans.end(run_id, owner)
        if ended is None:
            return 0
        if self._on_orphan_ended is not None:
            self._on_orphan_ended(ended)
        return 1


@contextlib.contextmanager
def _reaching_redis() -> Iterator[None]:
    """Redis connection failures, as ``ClusterUnavailable`` (redis-py is imported here:
    it is an optional dependency, and only a cluster reaches this)."""
    from redis.exceptions import ConnectionError, TimeoutError

    try:
        yield
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise ClusterUnavailable(f"Redis is unreachable: {exc}") from exc


def redis_broker(settings: Settings) -> RedisBroker:
    """The broker for ``settings.redis_url`` (needs the ``redis`` extra)."""
    try:
        from redis.asyncio import Redis
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "redis_url is set but redis-py is missing: pip install 'tokenwire[redis]'"
        ) from exc
    client = Redis.from_url(settings.redis_url.get_secret_value())
    return RedisBroker(
        client,
        keys=RedisKeys(settings.redis_prefix),
        max_events_per_run=settings.max_events_per_run,
        retention_seconds=settings.retention_seconds,
    )
