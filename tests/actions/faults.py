"""Fault injection for the action ledger: a real ledger whose writes of an outcome fail a
given number of times first (the database gone for a moment, or for good)."""

from __future__ import annotations

from typing import Any

from tokenwire.actions.ledger import ActionEntry, ActionStatus, Ledger


class FailingFinish:
    """``inner`` whose next ``failures`` ``finish`` calls raise (``None``: every one)."""

    def __init__(self, inner: Ledger, failures: int | None = None) -> None:
        self.inner = inner
        self.failures = failures
        self.attempts = 0

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        self.attempts += 1
        if self.failures is None or self.failures > 0:
            if self.failures is not None:
                self.failures -= 1
            raise ConnectionError("the audit database is unreachable")
        await self.inner.finish(
            key, status, result, error, run_id, sealed=sealed, commit_args=commit_args
        )

    def __getattr__(self, name: str) -> Any:  # every other call reaches the real ledger
        return getattr(self.inner, name)

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        return await self.inner.begin(entry)
