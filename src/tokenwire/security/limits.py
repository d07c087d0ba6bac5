"""Per-key rate limits with the ``limits`` library: requests per minute, concurrent
streams, tokens per minute. Memory storage today; a Redis storage URI drops in later."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute, storage, strategies

from tokenwire.security.credentials import ApiKey

__all__ = ["RateLimited", "RateLimiter"]


class RateLimited(Exception):
    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = max(retry_after, 1)


class RateLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        self._limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))

    def check_request(self, key: ApiKey) -> None:
        if key.requests_per_minute is None:
            return
        item = RateLimitItemPerMinute(key.requests_per_minute)
        if not self._limiter.hit(item, "requests", key.alias):
            raise RateLimited(
                f"more than {key.requests_per_minute} requests per minute",
                self._retry_after(item, "requests", key.alias),
            )

    def check_tokens(self, key: ApiKey) -> None:
        """Refuse new runs once the key used its tokens for the current minute."""
        if key.tokens_per_minute is None:
            return
        item = RateLimitItemPerMinute(key.tokens_per_minute)
        if self._limiter.get_window_stats(item, "tokens", key.alias).remaining <= 0:
            raise RateLimited(
                f"more than {key.tokens_per_minute} tokens per minute",
                self._retry_after(item, "tokens", key.alias),
            )

    def consume_tokens(self, key: ApiKey, tokens: int) -> None:
        """Charge a finished run's tokens; a run that overshoots saturates the window."""
        if key.tokens_per_minute is None or tokens <= 0:
            return
        item = RateLimitItemPerMinute(key.tokens_per_minute)
        if not self._limiter.hit(item, "tokens", key.alias, cost=min(tokens, item.amount)):
            remaining = self._limiter.get_window_stats(item, "tokens", key.alias).remaining
            if remaining > 0:
                self._limiter.hit(item, "tokens", key.alias, cost=remaining)

    def _retry_after(self, item: RateLimitItemPerMinute, *identifiers: str) -> int:
        reset = self._limiter.get_window_stats(item, *identifiers).reset_time
        return math.ceil(reset - time.time())
