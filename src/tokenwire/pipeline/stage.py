"""The stages a run's output passes between the adapter and the recorder, and how a stage
ends its run.

A run's chain is ``adapter → budget → guards → recorder``: the adapter calls the first
stage, each stage calls the next, the recorder (``tokenwire.runs``) is the last. Every
stage implements :class:`Stage` — the adapter's :class:`~tokenwire.langchain.sink.RunSink`
plus the calls the run task makes around attempts — so the task talks to the head of the
chain and never asks which stages are there. A stage that must end the run early (a budget
spent, a guard that blocks) says so through the run's :class:`RunControl`.
"""

from __future__ import annotations

from typing import Protocol

from tokenwire.events import ErrorCode, RunStatus
from tokenwire.langchain.sink import RunSink
from tokenwire.pipeline.findings import Finding

__all__ = ["RunControl", "Stage"]


class RunControl(Protocol):
    """What a stage may do to its run: end it now, with a status of its choosing."""

    def stop(self, status: RunStatus, code: ErrorCode, message: str) -> bool:
        """End the run with ``status`` and an ``error`` of ``code`` (the first stop wins);
        False if the run had already ended."""

    @property
    def stopped(self) -> bool:
        """True once a stop was asked for (its cancellation may not have landed yet)."""


class Stage(RunSink, Protocol):
    def guardrail(self, finding: Finding, *, shown: bool = False) -> None:
        """A guard acted on the text: recorded as a ``guardrail`` event."""

    def discard_unshown(self) -> None:
        """An attempt failed: nothing of it not shown yet may ever be (a retry or fallback
        starts over, or continues after what was shown)."""

    def restart(self) -> None:
        """The run restarts (``run.restart``): what was shown is withdrawn."""

    async def drain(self) -> None:
        """The answer is complete: release whatever a stage still holds."""

    def cancel(self) -> None:
        """The run is ending: drop what is held and stop any background work."""
