"""The guard stage: a run's guardrails, between its budget and its recorder.

When every guard is synchronous (all the built-in ones are: regexes), no task is involved:
a token costs a list append, and what arrived while the model's task ran is scanned in one
go by a callback as soon as it yields (one scan and one event per network read, not per
token). With an async guard (a classifier behind a network
call), calls are queued instead and a worker task, started on the first one, takes them in
batches and awaits the guards, so the model is never slowed down by the classifier. Either
way what may be shown is forwarded to the next stage in order, and a non-token event (a tool
step, a retrieval, a custom event, a node's progress) ends a text segment, so held text is
flushed before it: events reach the log in the order the runnable produced them.

``holdback`` (default) shows nothing a guard has not cleared. ``stream_first`` shows text
at once and runs the guards beside it — an audit mode that **fails open**: a redaction is
reported, but the text was already shown; a block or halt still stops the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from tokenwire.broker.base import EventLogFull
from tokenwire.errors import GuardFailed
from tokenwire.events import ErrorCode, RunStatus
from tokenwire.langchain.sink import NodePhase
from tokenwire.pipeline.findings import Finding, Guard
from tokenwire.pipeline.holdback import HoldbackBuffer, Release, run_now
from tokenwire.pipeline.stage import RunControl, Stage

__all__ = ["GuardMode", "GuardStage"]

GuardMode = Literal["holdback", "stream_first"]
_Call = tuple[str, tuple[Any, ...]]


class GuardStage:
    def __init__(
        self,
        next: Stage,
        guards: Sequence[Guard],
        control: RunControl,
        *,
        window: int | None = None,
        mode: GuardMode = "holdback",
    ) -> None:
        self._next = next
        self._answer = HoldbackBuffer(guards, window)
        self._reasoning = HoldbackBuffer(guards, window)
        self._control = control
        self._stream_first = mode == "stream_first"
        self._inline = self._answer.synchronous
        # Inline mode: answer text of this loop iteration, scanned together once the model's
        # task yields (a network read's worth of tokens costs one scan and one event).
        self._pending: list[str] = []
        self._flush_scheduled = False
        self._error: BaseException | None = None
        self._shown = False
        self._epoch = 0
        self._queue: list[_Call | str] = []
        self._wake: asyncio.Future[None] | None = None
        self._stopped: Finding | None = None
        self._closed = False
        self._worker: asyncio.Task[None] | None = None

    # -- RunSink (called by the adapter) --------------------------------------------------
    def token(self, text: str) -> bool:
        """True when this delta made the answer's first text visible (``RunSink.token``).

        Until something is visible each delta is scanned at once, so the first words are in
        the log before the caller yields and go out in the writer's next write (a deferred
        scan would let the writer send the run's opening events alone first, and the words
        one write and a few chunks later). After that, text waits for the one scan per
        loop iteration."""
        if self._error is not None:
            self._raise_deferred()
        if self._stopped is not None or self._closed:
            return False
        if self._stream_first:
            first = self._next.token(text) is True
            self._enqueue(text)
            return first
        if not self._inline or self._reasoning.held:
            shown = self._shown
            self._enqueue(text)
            return self._shown and not shown
        self._pending.append(text)
        if not self._shown:
            with _GUARD_ERRORS:
                self._push_pending()
            return self._shown
        if not self._flush_scheduled:  # the hot path: no scan, no task switch
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)
        return False

    def reasoning(self, text: str) -> None:
        if self._stopped is not None or self._closed:
            return
        if self._stream_first:
            self._next.reasoning(text)
        self._enqueue(("reasoning", (text,)))

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self._step("tool_start", (call_id, name, args))

    def tool_end(self, call_id: str, name: str, output: Any, error: str | None = None) -> None:
        self._step("tool_end", (call_id, name, output, error))

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._step("retrieval", (documents,))

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        self._step("custom", (name, data, error))

    def node(self, phase: NodePhase, name: str, step: int | None) -> None:
        self._step("node", (phase, name, step))

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        # Usage is bookkeeping, not shown text: it never waits behind the guards.
        self._next.usage(input_tokens, output_tokens, model, cached_input_tokens)

    # -- lifecycle --------------------------------------------------------------------------
    async def drain(self) -> None:
        """Process everything queued and release the held text (the stream has ended)."""
        self._raise_deferred()
        self._enqueue(("flush", ()))
        self._enqueue(("close", ()))
        self._closed = True
        if self._worker is not None:
            # A stop found now cancels the run's task (Run.stop): let that cancellation through.
            await asyncio.shield(self._worker)

    def discard_unshown(self) -> None:
        """An attempt failed: nothing of it that is not shown yet may ever be (a retry or a
        fallback starts over, or continues after what was shown)."""
        self._epoch += 1
        self._pending.clear()
        self._queue.clear()
        self._answer.discard()
        self._reasoning.discard()

    def restart(self) -> None:
        """The run restarts (``run.restart``): what was shown is discarded by the client, so
        the next answer is scanned as a new text (after :meth:`discard_unshown`)."""
        self._answer.restart()
        self._reasoning.restart()
        self._shown = False  # the new answer's first words are scanned at once again
        self._next.restart()

    def guardrail(self, finding: Finding, *, shown: bool = False) -> None:
        self._next.guardrail(finding, shown=shown)

    def cancel(self) -> None:
        """Drop held text (the run was cancelled: nobody may see unchecked text)."""
        self._closed = True
        self._pending.clear()
        if self._worker is not None:
            self._worker.cancel()

    def _step(self, method: str, args: tuple[Any, ...]) -> None:
        """A non-token event: it ends a text segment, so what is held goes before it. In
        ``stream_first`` mode nothing waits for the guards — the text around it was shown at
        once — so it is passed on now too (queued behind an async guard's scan, it would
        land after text the model produced later)."""
        if self._stream_first and self._stopped is None and not self._closed:
            getattr(self._next, method)(*args)
            self._enqueue(("flush", ()))
            return
        self._enqueue((method, args))

    def _enqueue(self, item: _Call | str) -> None:
        if self._stopped is not None or self._closed:
            return
        if self._inline:
            with _GUARD_ERRORS:
                self._push_pending()  # text before this call goes first
                run_now(self._process([item]))
            return
        self._queue.append(item)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _flush_soon(self) -> None:
        """The model's task yielded: scan what it delivered meanwhile. An error here (the log
        is full, a guard raised) is raised in the run's task at its next call."""
        self._flush_scheduled = False
        try:
            with _GUARD_ERRORS:
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

    def _raise_deferred(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake = loop.create_future()
                await self._wake
            batch, self._queue = self._queue, []
            if await self._process(batch):
                return

    async def _process(self, batch: list[_Call | str]) -> bool:
        """Handle a batch in order; True once the stream is closed or stopped.

        Answer text and reasoning are two channels with a buffer each; switching channel,
        a tool step or a retrieval ends a segment and flushes what is held."""
        pending: list[str] = []
        for item in batch:
            if isinstance(item, str):
                if not pending and await self._flush(self._reasoning):
                    return True
                pending.append(item)
                continue
            if pending:
                if await self._push(self._answer, "".join(pending)):
                    return True
                pending = []
            method, args = item
            if method == "reasoning":
                if await self._flush(self._answer) or await self._push(self._reasoning, args[0]):
                    return True
                continue
            if await self._flush(self._answer) or await self._flush(self._reasoning):
                return True
            if method == "close":
                return True
            if method != "flush":
                getattr(self._next, method)(*args)
        return bool(pending) and await self._push(self._answer, "".join(pending))

    async def _flush(self, buffer: HoldbackBuffer) -> bool:
        return bool(buffer.held) and await self._push(buffer, "", final=True)

    async def _push(self, buffer: HoldbackBuffer, text: str, *, final: bool = False) -> bool:
        epoch = self._epoch
        release = await buffer.push(text, final=final)
        if epoch != self._epoch:  # the attempt failed meanwhile: its text is gone
            return False
        self._apply(release, reasoning=buffer is self._reasoning)
        return release.stop is not None

    def _apply(self, release: Release, *, reasoning: bool) -> None:
        next = self._next
        for finding in release.redactions:
            next.guardrail(finding, shown=self._stream_first)
        if release.text and not self._stream_first:
            if reasoning:
                next.reasoning(release.text)
            else:
                next.token(release.text)
                self._shown = True
        if release.stop is not None:
            self._stopped = release.stop
            next.guardrail(release.stop, shown=False)
            message = f"stopped by the {release.stop.rule!r} guardrail: {release.stop.detail}"
            self._control.stop(RunStatus.BLOCKED, ErrorCode.POLICY_VIOLATION, message)


class _GuardErrors:
    """``with _GUARD_ERRORS:`` a guard's exception becomes :class:`GuardFailed`; the log's
    own limit passes as it is. One shared instance: entered on every flush, it allocates
    nothing (a ``@contextmanager`` would build a generator each time)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, (EventLogFull, GuardFailed)):
            raise GuardFailed(f"a guardrail failed: {type(exc).__name__}: {exc}") from exc


_GUARD_ERRORS = _GuardErrors()
