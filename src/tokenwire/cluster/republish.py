"""Re-publishing this replica's runs after Redis lost them (it restarted empty, or failed
over to a replica that had not caught up).

The owner holds every event of its runs in memory, so it can write a run's record and whole
log again. It does so only where Redis lost the log (the stream no longer starts at the run's
first event): one Lua script checks and rewrites, atomically, so a follower never reads a
half-written log, and a run Redis kept — or that a sweeper already ended — is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tokenwire.broker.redis import stream_entries
from tokenwire.cluster.run_record import INPUT
from tokenwire.runs.run import Run

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline

    from tokenwire.broker.redis import RedisKeys

__all__ = ["republish"]

# KEYS: log, record, live set[, owner's live set]. ARGV: run id, ended ('1' or '0'),
# retention ms, the number of record items (2 per field), the record's fields and values,
# then each stream entry's id and payload. Returns 1 if it rewrote the run, else 0.
_REPUBLISH = """
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then
  local seq = tonumber(string.match(first[1][1], '^(%d+)'))
  if seq - #cjson.decode(first[1][2][2]) + 1 == 1 then
    return 0
  end
end
local items = tonumber(ARGV[4])
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 5, 4 + items))
for i = 5 + items, #ARGV, 2 do
  redis.call('XADD', KEYS[1], ARGV[i], 'e', ARGV[i + 1])
end
for i = 3, #KEYS do
  if ARGV[2] == '1' then
    redis.call('SREM', KEYS[i], ARGV[1])
  else
    redis.call('SADD', KEYS[i], ARGV[1])
  end
end
if ARGV[2] == '1' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
"""


def republish(
    pipe: Pipeline,
    keys: RedisKeys,
    run: Run,
    record: dict[str, str | bytes],
    kept_input: bytes | None,
    retention_ms: int,
) -> None:
    """Queue on ``pipe`` the rewrite of ``run`` (its log as held now, when the pipeline is
    built: everything the broker sends after it has a later seq)."""
    if not run.done and kept_input is not None:
        record = {**record, INPUT: kept_input}
    items: list[Any] = [item for pair in record.items() for item in pair]
    entries = [item for entry in stream_entries(run.log.since(0)) for item in entry]
    sets = [keys.live] + ([keys.owner(run.owner)] if run.owner else [])
    args = [run.id, "1" if run.done else "0", retention_ms, len(items), *items, *entries]
    pipe.eval(_REPUBLISH, 2 + len(sets), keys.log(run.id), keys.run(run.id), *sets, *args)
