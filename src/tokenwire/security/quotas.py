"""Per-key token and cost budgets per period (hour, day or month, UTC calendar periods).

A key that has spent its budget is refused new runs (429 until the period rolls over); a
run in flight gets what remains of the key's budget as its own run budget, so it is cut off
mid-stream (``truncated``, ``budget_exceeded``) rather than overspending. Input tokens are
only known when the provider reports them, so the live cut-off counts output against what
remains and the run's input is charged when it ends.

Spending is counted in this process, or with Redis across every replica: a check reads the
key's current window from Redis into the local copy (so the run budget a start then takes is
as fresh as that check), and a charge adds to both.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from tokenwire.errors import RateLimited
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.security.credentials import ApiKey

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["KeyQuotas"]

log = logging.getLogger("tokenwire.security")

_ADJECTIVE = {"hour": "hourly", "day": "daily", "month": "monthly"}


def _period(period: str, now: float) -> tuple[str, float]:
    """(window id, seconds until the window ends) for a calendar period in UTC."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "hour":
        start = moment.replace(minute=0, second=0, microsecond=0)
        length = 3600.0
        return start.isoformat(), start.timestamp() + length - now
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.isoformat(), start.timestamp() + 86400 - now
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start.isoformat(), following.timestamp() - now
    raise ValueError(f"budget_period must be hour, day or month, not {period!r}")


class KeyQuotas:
    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        redis: Redis | None = None,
        prefix: str = "tokenwire",
    ) -> None:
        self._clock = clock
        self._spent: dict[tuple[str, str], list[float]] = {}  # (alias, window) → [tokens, usd]
        self._redis = redis
        self._prefix = prefix
        self._charges: set[asyncio.Task[None]] = set()

    def _window(self, key: ApiKey) -> tuple[list[float], float]:
        window, left = _period(key.budget_period, self._clock())
        return self._spent.setdefault((key.alias, window), [0.0, 0.0]), left

    def _redis_key(self, key: ApiKey) -> str:
        window, _ = _period(key.budget_period, self._clock())
        return f"{self._prefix}:quota:{key.alias}:{window}"

    async def check(self, key: ApiKey) -> None:
        """Refuse a new run once the key's budget for this period is spent."""
        if key.token_budget is None and key.cost_budget_usd is None:
            return
        if self._redis is not None:
            await self._refresh(key)
        (tokens, usd), left = self._window(key)
        if key.token_budget is not None and tokens >= key.token_budget:
            raise RateLimited(
                f"the key's {_ADJECTIVE[key.budget_period]} token budget is spent", _ceil(left)
            )
        if key.cost_budget_usd is not None and usd >= key.cost_budget_usd:
            raise RateLimited(
                f"the key's {_ADJECTIVE[key.budget_period]} cost budget is spent", _ceil(left)
            )

    def run_budget(self, key: ApiKey) -> RunBudget | None:
        """What a new run of this key may still spend, as a run budget (None: unlimited)."""
        if key.token_budget is None and key.cost_budget_usd is None:
            return None
        (tokens, usd), _ = self._window(key)
        return RunBudget(
            max_output_tokens=None
            if key.token_budget is None
            else max(int(key.token_budget - tokens), 0),
            max_cost_usd=None if key.cost_budget_usd is None else key.cost_budget_usd - usd,
        )

    def charge(self, key: ApiKey, tokens: int, cost_usd: float | None) -> None:
        spent, left = self._window(key)
        spent[0] += tokens
        spent[1] += cost_usd or 0.0
        if self._redis is not None and (
            key.token_budget is not None or key.cost_budget_usd is not None
        ):
            task = asyncio.get_running_loop().create_task(
                self._add(self._redis_key(key), tokens, cost_usd or 0.0, left)
            )
            self._charges.add(task)
            task.add_done_callback(self._charged)

    async def _refresh(self, key: ApiKey) -> None:
        assert self._redis is not None
        raw = await cast(
            "Awaitable[list[bytes | None]]",
            self._redis.hmget(self._redis_key(key), ["tokens", "usd"]),
        )
        spent, _ = self._window(key)
        shared = [float(value or 0) for value in raw]
        # Never below what this process knows: its own charges may still be on their way.
        spent[0], spent[1] = max(spent[0], shared[0]), max(spent[1], shared[1])

    async def _add(self, name: str, tokens: int, usd: float, left: float) -> None:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrbyfloat(name, "tokens", tokens)
            pipe.hincrbyfloat(name, "usd", usd)
            pipe.expire(name, _ceil(left) + 3600)  # past its period, with room for clock skew
            await pipe.execute()

    def _charged(self, task: asyncio.Task[None]) -> None:
        self._charges.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("charging a key's quota in Redis failed: %r", task.exception())


def _ceil(seconds: float) -> int:
    return max(math.ceil(seconds), 1)
