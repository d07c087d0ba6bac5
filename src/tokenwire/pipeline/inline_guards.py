"""The guard stage for synchronous guards: the checks run on the token path, no task.

A token costs a list append; what arrived while the model's task ran is scanned in one go
by a callback as soon as it yields (one scan and one event per network read, not per
token). Until the answer's first text is visible each delta is scanned at once instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tokenwire.pipeline.guard_stage import GUARD_ERRORS, Call, GuardStage
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.holdback import run_now
from tokenwire.pipeline.stage import RunControl, Stage

__all__ = ["InlineGuards"]


class InlineGuards(GuardStage):
    """Guards that never await, run in the caller's task (see the module docstring)."""

    def __init__(
        self,
        next: Stage,
        rails: Guardrails,
        control: RunControl,
        *,
        on_arrival: Callable[[], None] | None = None,
    ) -> None:
        if not rails.synchronous:
            raise ValueError("async guards run in a GuardWorker, not in InlineGuards")
        super().__init__(next, rails, control, on_arrival=on_arrival)
        # Answer text of this loop iteration, scanned together once the model's task yields
        # (a network read's worth of tokens costs one scan and one event).
        self._pending: list[str] = []
        self._flush_scheduled = False

    def _hold(self, text: str) -> bool:
        """Until something is visible each delta is scanned at once, so the first words are
        in the log before the caller yields and go out in the writer's next write (a
        deferred scan would let the writer send the run's opening events alone first, and
        the words one write and a few chunks later). After that, text waits for the one scan
        per loop iteration."""
        if self._reasoning.held:  # the reasoning's segment ends first: take the slow path
            shown = self._shown
            self._take(text)
            return self._shown and not shown
        self._pending.append(text)
        if not self._shown:
            with GUARD_ERRORS:
                self._push_pending()
            return self._shown
        if not self._flush_scheduled:  # the hot path: no scan, no task switch
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)
        return False

    def _take(self, item: Call) -> None:
        with GUARD_ERRORS:
            self._push_pending()  # text before this call goes first
            run_now(self._process([item]))

    def discard_unshown(self) -> None:
        self._pending.clear()
        super().discard_unshown()

    def cancel(self) -> None:
        super().cancel()
        self._pending.clear()

    def _flush_soon(self) -> None:
        """The model's task yielded: scan what it delivered meanwhile. An error here (the log
        is full, a guard raised) is raised in the run's task at its next call."""
        self._flush_scheduled = False
        try:
            with GUARD_ERRORS:
                self._push_pending()
        except Exception as exc:
            self._error = exc

    def _push_pending(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        if self._stopped is None and not self._closed:
            self._apply(self._answer.push_now(text), reasoning=False)
