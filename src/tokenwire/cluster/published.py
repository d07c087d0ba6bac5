"""This replica's runs as Redis holds them: each run's record, written whole when it starts
and when it ends, and — after Redis lost them — its record and log written again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tokenwire.broker.redis import decode_events
from tokenwire.cluster.remote import RemoteRun
from tokenwire.cluster.republish import republish
from tokenwire.cluster.run_record import INPUT, encode_input, record_of
from tokenwire.runs.run import Run

if TYPE_CHECKING:
    from tokenwire.broker.redis import RedisBroker
    from tokenwire.runs.registry import RunRegistry

__all__ = ["PublishedRuns"]

log = logging.getLogger("tokenwire.cluster")


class PublishedRuns:
    """Writes this replica's run records (batched with its events, see ``RedisBroker``).

    ``keep_inputs``: keep a live run's request input in its record, so that a survivor can
    audit the run if this replica dies; it is removed when the run ends.
    """

    def __init__(
        self,
        broker: RedisBroker,
        registry: RunRegistry,
        replica_id: str,
        *,
        retention_ms: int,
        claim_ms: int,
        keep_inputs: bool,
    ) -> None:
        self._broker = broker
        self._keys = broker.keys
        self._registry = registry
        self._replica_id = replica_id
        self._retention_ms = retention_ms
        self._claim_ms = claim_ms
        self._keep_inputs = keep_inputs
        #: The kept input of each live run (written again with its record if Redis lost it).
        self._inputs: dict[str, bytes] = {}

    def opened(self, run: Run, input: Any) -> None:
        """Publish ``run``'s record (ahead of its first events). A run that already ended
        is published as ended."""
        if run.done:
            self.closed(run)
            return
        kept = encode_input(input) if self._keep_inputs else None
        record = record_of(run, self._replica_id)
        if kept is not None:
            self._inputs[run.id] = record[INPUT] = kept
        key, live, run_id = self._keys.run(run.id), self._keys.live, run.id
        owner = self._keys.owner(run.owner) if run.owner else None

        def write(pipe: Any) -> None:
            pipe.hset(key, mapping=record)
            pipe.sadd(live, run_id)
            if owner is not None:
                pipe.sadd(owner, run_id)

        # Ahead of whatever is queued: a client may rejoin elsewhere as soon as it has the id.
        self._broker.later(write, urgent=True)

    def closed(self, run: Run) -> None:
        """Record how ``run`` ended and let its keys expire with its retention. The record
        is written whole: Redis may have lost it since the start (a restart)."""
        self._inputs.pop(run.id, None)
        keys, run_id, ttl = self._keys, run.id, self._retention_ms
        key, live = keys.run(run_id), keys.live
        record = record_of(run, self._replica_id)
        record.setdefault("ended_at", repr(time.time()))
        owner = keys.owner(run.owner) if run.owner else None
        claim = None
        if run.idempotency_key is not None:
            claim = keys.idempotency(run.route, run.idempotency_key)

        def write(pipe: Any) -> None:
            pipe.hset(key, mapping=record)
            pipe.hdel(key, INPUT)
            pipe.pexpire(key, ttl)
            pipe.srem(live, run_id)
            if owner is not None:
                pipe.srem(owner, run_id)
            if claim is not None:  # the key stays taken as long as the run is retrievable
                pipe.pexpire(claim, ttl)

        self._broker.later(write)

    async def republish(self, *, ended_since: float) -> int:
        """Write this replica's live runs, and those that ended since ``ended_since`` (their
        end may be lost too), again where Redis lost their log; returns how many."""
        runs = [
            run
            for run in self._registry
            if not isinstance(run, RemoteRun)
            and (not run.done or (run.ended_at or 0.0) >= ended_since)
        ]
        if not runs:
            return 0
        # A cheap look first (a false alarm must not send every log): the script that
        # rewrites checks again, atomically.
        async with self._broker.client.pipeline(transaction=False) as pipe:
            for run in runs:
                pipe.xrange(self._keys.log(run.id), count=1)
            firsts = await pipe.execute()
        lost = [run for run, first in zip(runs, firsts, strict=True) if not _starts_whole(first)]
        for run in lost:
            self._broker.later(self._republishing(run), urgent=True)
        if lost:
            log.warning("re-publishing %d run(s) Redis lost", len(lost))
        return len(lost)

    def _republishing(self, run: Run) -> Callable[[Any], None]:
        keys, retention = self._keys, self._retention_ms

        def write(pipe: Any) -> None:
            # Built when sent: the record and the log as they are then.
            record = record_of(run, self._replica_id)
            republish(pipe, keys, run, record, self._inputs.get(run.id), retention)
            if run.idempotency_key is not None:
                claim = keys.idempotency(run.route, run.idempotency_key)
                hold = retention if run.done else self._claim_ms
                pipe.set(claim, run.id, px=hold, nx=True)

        return write


def _starts_whole(first: list[Any]) -> bool:
    """Whether a log's first stream entry (``XRANGE COUNT 1``) holds the run's first event."""
    return bool(first) and decode_events(*first[0])[0].seq == 1
