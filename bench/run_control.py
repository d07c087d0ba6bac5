"""The run control the in-process benchmarks hand their stages: a run nobody stops."""

from __future__ import annotations

from tokenwire.events import ErrorCode, RunStatus

__all__ = ["NoStop"]


class NoStop:
    """A :class:`~tokenwire.pipeline.stage.RunControl` that ignores stops (the measured text
    has no PII and no budget is spent)."""

    stopped = False

    def stop(self, status: RunStatus, code: ErrorCode, message: str) -> bool:
        return False
