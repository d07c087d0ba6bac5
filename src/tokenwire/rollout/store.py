"""Where rollout states live: this process's memory, or Redis for every replica (and
across restarts). A save is a compare-and-set on the state's ``version``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, cast

from tokenwire.rollout.state import RolloutState

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["MemoryStore", "RedisStore", "StateStore"]


class StateStore(Protocol):
    async def load(self, route: str) -> RolloutState | None: ...

    async def save(self, state: RolloutState, read_version: int) -> bool:
        """Store ``state`` (its version one past ``read_version``) if the stored one is
        still at ``read_version`` (0: none stored); False when another writer was first."""
        ...


class MemoryStore:
    def __init__(self) -> None:
        self._states: dict[str, str] = {}

    async def load(self, route: str) -> RolloutState | None:
        raw = self._states.get(route)
        return None if raw is None else RolloutState.from_json(raw)

    async def save(self, state: RolloutState, read_version: int) -> bool:
        stored = self._states.get(state.route)
        current = 0 if stored is None else RolloutState.from_json(stored).version
        if current != read_version:
            return False
        self._states[state.route] = state.to_json()
        return True


#: SET the state if the stored one's version is ARGV[1] (no state: version 0).
_CAS = """
local stored = redis.call('GET', KEYS[1])
local version = 0
if stored then version = cjson.decode(stored)['version'] end
if version == tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class RedisStore:
    """States as JSON strings under ``key_of(route)`` (the cluster's ``RedisKeys``)."""

    def __init__(self, client: Redis, key_of: Callable[[str], str]) -> None:
        self.client = client
        self.key_of = key_of

    async def load(self, route: str) -> RolloutState | None:
        raw = await self.client.get(self.key_of(route))
        return None if raw is None else RolloutState.from_json(raw)

    async def save(self, state: RolloutState, read_version: int) -> bool:
        done = self.client.eval(_CAS, 1, self.key_of(state.route), read_version, state.to_json())
        return bool(await cast("Awaitable[int]", done))
