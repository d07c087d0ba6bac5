"""Per-key rate limits with the ``limits`` library: requests per minute and tokens per
minute. Counters live in memory, or with ``redis_url`` in Redis, so every replica counts
against the same limits (the async strategies: a check never blocks the event loop)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from tokenwire.errors import RateLimited
from tokenwire.security.credentials import ApiKey

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RateLimiter"]


class RateLimiter:
    """``RateLimiter()`` counts in this process; ``RateLimiter(redis, prefix=…)`` in Redis,
    over that client's connections (so they close with it)."""

    def __init__(self, redis: Redis | None = None, *, prefix: str = "tokenwire") -> None:
        if redis is not None:
            storage = storage_from_string(
                "async+redis://",
                implementation="redispy",
                key_prefix=f"{prefix}:limits",
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed through to redis-py
            )
        else:
            storage = storage_from_string("async+memory://")
        self._limiter = MovingWindowRateLimiter(storage)  # type: ignore[arg-type]

    async def check_request(self, key: ApiKey) -> None:
        if key.requests_per_minute is None:
            return
        item = RateLimitItemPerMinute(key.requests_per_minute)
        if not await self._limiter.hit(item, "requests", key.alias):
            raise RateLimited(
                f"more than {key.requests_per_minute} requests per minute",
                await self._retry_after(item, "requests", key.alias),
            )

    async def check_tokens(self, key: ApiKey) -> None:
        """Refuse new runs once the key used its tokens for the current minute."""
        if key.tokens_per_minute is None:
            return
        item = RateLimitItemPerMinute(key.tokens_per_minute)
        stats = await self._limiter.get_window_stats(item, "tokens", key.alias)
        if stats.remaining <= 0:
            raise RateLimited(
                f"more than {key.tokens_per_minute} tokens per minute",
                math.ceil(stats.reset_time - time.time()),
            )

    async def consume_tokens(self, key: ApiKey, tokens: int) -> None:
        """Charge a finished run's tokens; a run that overshoots saturates the window."""
        if key.tokens_per_minute is None or tokens <= 0:
            return
        item = RateLimitItemPerMinute(key.tokens_per_minute)
        if not await self._limiter.hit(item, "tokens", key.alias, cost=min(tokens, item.amount)):
            stats = await self._limiter.get_window_stats(item, "tokens", key.alias)
            if stats.remaining > 0:
                await self._limiter.hit(item, "tokens", key.alias, cost=stats.remaining)

    async def _retry_after(self, item: RateLimitItemPerMinute, *identifiers: str) -> int:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return math.ceil(stats.reset_time - time.time())
