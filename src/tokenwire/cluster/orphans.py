"""Ending the runs of a replica that died.

A sweeper ends such a run with ``incomplete_stream`` and ``run.end`` after the last event
that reached Redis. One Lua script decides, atomically, whether this call ends it: of several
survivors sweeping at once exactly one does, and only that one writes the run's audit record
(from what Redis knows: its record, its log, the input the owner kept there to audit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import orjson

from tokenwire.broker.redis import encode_events
from tokenwire.cluster.remote import RemoteRun, delivered_text
from tokenwire.cluster.run_record import FIELDS, decode_input, remote_run
from tokenwire.events import ErrorCode, Event, EventType, RunStatus

if TYPE_CHECKING:
    from tokenwire.broker.redis import RedisBroker

__all__ = ["EndedOrphan", "Orphans"]

log = logging.getLogger("tokenwire.cluster")

# Ends a live run whose replica is gone: error + run.end after the stream's last event,
# unless it already ended (one entry: the two events). Returns {1, the kept input} to the
# one call that ended it, else {0}. KEYS: log, record, live set, owner's live set.
# ARGV: run id, the entry's payload, retention ms, ended_at.
_END_ORPHAN = """
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local seq = 0
local ended = 0
if #last > 0 then
  seq = tonumber(string.match(last[1][1], '^(%d+)'))
  local events = cjson.decode(last[1][2][2])
  if events[#events][1] == 'run.end' then
    ended = 1
  end
end
local input = false
if ended == 0 then
  redis.call('XADD', KEYS[1], (seq + 2) .. '-0', 'e', ARGV[2])
  input = redis.call('HGET', KEYS[2], 'input')
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HDEL', KEYS[2], 'input')
    redis.call('HSET', KEYS[2], 'status', 'failed', 'ended_at', ARGV[4])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
if ended == 1 then
  return {0}
end
return {1, input}
"""

_ERROR = {
    "code": ErrorCode.INCOMPLETE_STREAM.value,
    "message": "the replica running this run stopped before it finished",
    "retryable": True,
}


@dataclass(frozen=True, slots=True)
class EndedOrphan:
    """A run this sweeper ended, as Redis knew it, and its request input (None if the
    owner kept none: it did not audit, or the input had no JSON form)."""

    run: RemoteRun
    input: Any


class Orphans:
    """Ends orphaned runs in Redis (see the module)."""

    def __init__(self, broker: RedisBroker, retention_ms: int) -> None:
        self._broker = broker
        self._keys = broker.keys
        self._retention_ms = retention_ms
        self._end = broker.client.register_script(_END_ORPHAN)

    async def end(self, run_id: str, owner: str) -> EndedOrphan | None:
        """End ``run_id`` unless it already ended; the run if this call ended it."""
        followed = self._broker.follow(run_id)
        await followed.load()
        events = followed.since(0)
        end = {
            "status": RunStatus.FAILED.value,
            "output": delivered_text((e.type, e.data) for e in events),
            "finish_reason": "error",
            "usage": _usage(events),
            "error": _ERROR,
        }
        keys = self._keys
        reply = await self._end(
            keys=[keys.log(run_id), keys.run(run_id), keys.live, keys.owner(owner)],
            args=[
                run_id,
                encode_events([(EventType.ERROR, _ERROR), (EventType.RUN_END, end)]),
                self._retention_ms,
                repr(time.time()),
            ],
        )
        if not int(reply[0]):
            return None
        log.warning("ended orphaned run %s (its replica stopped)", run_id)
        raw = await cast(
            "Awaitable[list[bytes | None]]",
            self._broker.client.hmget(keys.run(run_id), list(FIELDS)),
        )
        fields = {name: value.decode() for name, value in zip(FIELDS, raw, strict=True) if value}
        run = remote_run(run_id, {**_known(events, owner), **fields}, followed)
        if run is None:
            return None
        run.followed.on_end = run.ended
        await run.followed.load()  # up to the run.end just written: the run ends here
        return EndedOrphan(run, decode_input(reply[1] if len(reply) > 1 else None))


def _usage(events: Sequence[Event]) -> dict[str, Any] | None:
    """The usage the run reported, if its log got that far (it comes just before the end)."""
    for event in reversed(events):
        if event.type == EventType.USAGE:
            return dict(event.data)
    return None


def _known(events: Sequence[Event], owner: str) -> dict[str, str]:
    """What ``run.start`` tells of a run whose record is gone (expired, or lost with Redis):
    enough to end and audit it."""
    start = events[0].data if events and events[0].type == EventType.RUN_START else {}
    return {
        "route": str(start.get("route", "")),
        "trace_id": str(start.get("trace_id", "")),
        "owner": owner,
        "status": RunStatus.RUNNING.value,
        "created_at": repr(time.time()),
        "on_disconnect": "continue",
        "metadata": orjson.dumps({"key_alias": owner or None}).decode(),
    }
