"""A blocking Redis client for tests to look into what the gateway stored."""

from __future__ import annotations

from typing import Any

import redis

__all__ = ["sync_redis"]


def sync_redis(url: str, **options: Any) -> Any:
    """``redis.Redis.from_url``, typed ``Any`` on purpose: redis-py types every reply of its
    sync client ``Awaitable[Any] | Any``, which no test could use without a cast."""
    return redis.Redis.from_url(url, **options)
