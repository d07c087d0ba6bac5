"""A run executing on another replica, as this replica sees it (see :mod:`.replica`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from tokenwire.events import Event, EventType, RunStatus
from tokenwire.runs.run import Run

if TYPE_CHECKING:
    from tokenwire.broker.redis import FollowedEventLog

__all__ = ["Owners", "RemoteRun", "delivered_text"]


class Owners(Protocol):
    """How a remote run reaches the replica that owns it (the :class:`.replica.Cluster`)."""

    def track(self, run: RemoteRun) -> None:
        """Follow the run's record while a subscriber holds it."""

    def forget(self, run: RemoteRun) -> None:
        """Stop following it: the last subscriber left."""

    def tell(self, op: str, run_id: str, **data: Any) -> None:
        """Forward ``op`` (attach, detach, cancel) to the owner."""


class RemoteRun(Run):
    """A run executing on another replica, seen through its record and followed log.

    Attaching and detaching are forwarded to the owner, so its ``on_disconnect`` policy sees
    every subscriber wherever it is connected; ``cancel`` is forwarded the same way.
    """

    cluster: Owners | None = None

    @property
    def followed(self) -> FollowedEventLog:
        return self.log  # type: ignore[return-value]

    def attach(self) -> None:
        self.subscribers += 1
        self.followed.follow()  # no-op once the log is closed
        if self.cluster is not None:
            self.cluster.track(self)
        self._tell("attach")

    def detach(self) -> None:
        self.subscribers -= 1
        self._tell("detach")
        self._release()

    def _release(self) -> None:
        if self.subscribers <= 0:
            self.followed.unfollow()
            if self.cluster is not None:
                self.cluster.forget(self)

    def cancel(self, reason: str) -> bool:
        if self.done:
            return False
        self._tell("cancel", reason=reason)
        return True

    async def settle(self, wait_seconds: float) -> None:
        """Follow the log until the run ends (or ``wait_seconds``): the owner runs the task."""
        if self.done:
            return
        waiter = asyncio.get_running_loop().create_future()
        self.followed.wait(waiter, end_only=True)
        # Held like a subscriber, so a streaming subscriber leaving meanwhile keeps it followed.
        self.subscribers += 1
        self.followed.follow()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, wait_seconds)
        finally:
            self.subscribers -= 1
            self._release()

    def ended(self, end: Event) -> None:
        summary = dict(end.data)
        self.finish(RunStatus(summary.get("status", RunStatus.FAILED.value)), summary)

    def snapshot(self) -> dict[str, Any]:
        snapshot = super().snapshot()
        snapshot["subscribers"] = None  # counted by the owning replica
        if not self.done:
            snapshot["output"] = delivered_text((e.type, e.data) for e in self.log.since(0))
        return snapshot

    def _tell(self, op: str, **data: Any) -> None:
        if self.cluster is not None:
            self.cluster.tell(op, self.id, **data)


def delivered_text(events: Iterable[tuple[str, dict[str, Any]]]) -> str:
    """The answer text a log's ``(type, data)`` events delivered (a restart withdraws it)."""
    text: list[str] = []
    for type, data in events:
        if type == EventType.TOKEN:
            text.append(data.get("text", ""))
        elif type == EventType.RESTART:
            text.clear()
    return "".join(text)
