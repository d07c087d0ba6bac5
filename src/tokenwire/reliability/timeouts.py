"""Per-route timeouts, enforced by a watchdog that costs the token path nothing.

The recorder already stamps ``last_token_at`` for every token; the :class:`Watchdog` is a
single timer on the event loop that wakes at the earliest deadline, re-reads that stamp and
either re-arms (a token arrived in time) or cancels the task it guards. So a token costs no
await, no allocation and no task here, and a stall costs one timer wake-up per
``stall_timeout``. Like ``asyncio.timeout`` it turns its own cancellation into an exception
(:class:`DeadlineExceeded`) and lets every other cancellation (a client leaving) through.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from types import TracebackType
from typing import Literal, Protocol

from tokenwire.usage.timing import Clock

__all__ = ["DeadlineExceeded", "DeadlineKind", "TokenClock", "Watchdog"]

DeadlineKind = Literal["first_token", "stall", "total"]

# uvloop's clock has millisecond resolution: a wake-up this close to the deadline is on time.
_SLACK = 0.002
# Some libraries swallow a cancellation (asyncio.wait_for on Python 3.11 loses one that
# races a result): once expired, cancel again at this interval until the block has exited.
_INSIST_SECONDS = 0.05


class TokenClock(Protocol):
    """What the watchdog reads: the time of the newest token, if any, on the watchdog's
    ``now`` clock (the recorder's, which stamps it)."""

    @property
    def last_token_at(self) -> float | None: ...


class DeadlineExceeded(Exception):
    """An attempt (or the whole run) ran past one of its route's timeouts."""

    def __init__(self, kind: DeadlineKind, seconds: float) -> None:
        super().__init__(f"{kind} timeout of {seconds:g} s exceeded")
        self.kind: DeadlineKind = kind
        self.seconds = seconds

    def __repr__(self) -> str:
        return f"DeadlineExceeded({self.kind!r}, {self.seconds!r})"


class Watchdog:
    """Guards the current task: ``async with Watchdog(recorder, stall=0.3): ...``.

    ``first_token``: seconds from entering until the first token of this attempt.
    ``stall``: the largest allowed gap after a token (measured from this attempt's newest token).
    ``total``: seconds from entering until the block must be done, tokens or not.
    ``now``: the clock deadlines are measured on (default ``perf_counter``; a test scripts
    it); the event loop's timer only decides when to look again.
    """

    __slots__ = (
        "_cancelling",
        "_cancels",
        "_clock",
        "_first_token",
        "_handle",
        "_loop",
        "_now",
        "_stall",
        "_started",
        "_task",
        "_total",
        "expired",
    )

    def __init__(
        self,
        clock: TokenClock | None = None,
        *,
        first_token: float | None = None,
        stall: float | None = None,
        total: float | None = None,
        now: Clock = perf_counter,
    ) -> None:
        self._clock = clock
        self._now = now
        self._first_token = first_token
        self._stall = stall
        self._total = total
        self._handle: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._cancelling = 0
        self._cancels = 0
        self.expired: DeadlineKind | None = None

    async def __aenter__(self) -> Watchdog:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Watchdog must be used inside a task")
        self._task = task
        self._loop = asyncio.get_running_loop()
        self._cancelling = task.cancelling()
        self._started = self._now()
        self._arm()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.expired is None:
            return
        remaining = self._task.cancelling()
        for _ in range(self._cancels):
            remaining = self._task.uncancel()
        # Only our own cancel becomes DeadlineExceeded; one from outside (a client leaving
        # at the same moment) stays a cancellation. A library that turned our cancel into
        # an error of its own still timed out.
        ours = exc_type is asyncio.CancelledError and remaining <= self._cancelling
        if ours or isinstance(exc, Exception):
            raise DeadlineExceeded(self.expired, self._limit(self.expired)) from exc

    def _limit(self, kind: DeadlineKind) -> float:
        limits = {"first_token": self._first_token, "stall": self._stall, "total": self._total}
        return limits[kind] or 0.0

    def _next_deadline(self) -> tuple[float, DeadlineKind] | None:
        """The earliest deadline as a ``now()`` time, and which one it is."""
        candidates: list[tuple[float, DeadlineKind]] = []
        if self._total is not None:
            candidates.append((self._started + self._total, "total"))
        last = self._clock.last_token_at if self._clock is not None else None
        if last is None or last < self._started:
            if self._first_token is not None:
                candidates.append((self._started + self._first_token, "first_token"))
        elif self._stall is not None:
            candidates.append((last + self._stall, "stall"))
        return min(candidates) if candidates else None

    def _arm(self) -> None:
        deadline = self._next_deadline()
        if deadline is None:
            return
        delay = deadline[0] - self._now()
        self._handle = self._loop.call_at(self._loop.time() + delay, self._check)

    def _check(self) -> None:
        self._handle = None
        deadline = self._next_deadline()
        if deadline is None:
            return
        due, kind = deadline
        if self._now() + _SLACK >= due:
            self.expired = kind
            self._cancel()
            return
        self._arm()

    def _cancel(self) -> None:
        self._cancels += 1
        self._task.cancel()
        self._handle = self._loop.call_later(_INSIST_SECONDS, self._cancel)
