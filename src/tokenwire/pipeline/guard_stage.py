"""What a run's guard stage is, in both of its forms: its guardrails between its budget and
its recorder.

Both forms hold the answer and the reasoning in a :class:`HoldbackBuffer` each, forward what
may be shown to the next stage in order, and end a text segment at any non-token event (a
tool step, a retrieval, a custom event, a node's progress), so held text is flushed before it:
events reach the log in the order the runnable produced them. They differ in where the guards
run, which :func:`tokenwire.runs.launch.run_stages` decides once per run, from
:attr:`Guardrails.synchronous <tokenwire.pipeline.guardrails.Guardrails.synchronous>`:

- :class:`~tokenwire.pipeline.inline_guards.InlineGuards`, when every guard is synchronous
  (all the built-in ones are: regexes): the checks run on the token path, no task;
- :class:`~tokenwire.pipeline.guard_worker.GuardWorker`, with an async guard (a classifier
  behind a network call): a worker task takes the calls in batches and awaits the guards,
  so the model is never slowed down by the classifier.

``holdback`` (default) shows nothing a guard has not cleared. ``stream_first`` shows text
at once and runs the guards beside it — an audit mode that **fails open**: a redaction is
reported, but the text was already shown; a block or halt still stops the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from tokenwire.broker.base import EventLogFull
from tokenwire.errors import GuardFailed
from tokenwire.events import ErrorCode, RunStatus
from tokenwire.langchain.sink import NodePhase
from tokenwire.pipeline.findings import Finding
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.holdback import HoldbackBuffer, Release
from tokenwire.pipeline.stage import RunControl, Stage

__all__ = ["CLOSE", "FLUSH", "GUARD_ERRORS", "Call", "GuardStage"]

#: A call for the guards, in arrival order: answer text, or ``(method, args)``.
Call = tuple[str, tuple[Any, ...]] | str
#: The stream has ended: release what is held (the last call a stage takes).
CLOSE: Call = ("close", ())
#: End the text segment (release what is held) without forwarding anything.
FLUSH: Call = ("flush", ())


class GuardStage(ABC):
    """The part both forms share: the buffers, the order of calls, what a release does.

    A form says how a call reaches :meth:`_process` (:meth:`_take`) and what answer text
    costs on its way there (:meth:`_hold`)."""

    def __init__(
        self,
        next: Stage,
        rails: Guardrails,
        control: RunControl,
        *,
        on_arrival: Callable[[], None] | None = None,
    ) -> None:
        self._next = next
        # Told as each delta arrives from the model, before any is held back: the gaps a
        # stall is judged on are the provider's, not the guards' (the recorder's).
        self._on_arrival = on_arrival
        self._answer = HoldbackBuffer(rails.guards, rails.window)
        self._reasoning = HoldbackBuffer(rails.guards, rails.window)
        self._control = control
        self._stream_first = rails.mode == "stream_first"
        # An error found off the caller's path (the log is full, a guard raised): raised in
        # the run's task at its next token or at drain.
        self._error: BaseException | None = None
        self._shown = False
        self._epoch = 0
        self._stopped: Finding | None = None
        self._closed = False

    @abstractmethod
    def _hold(self, text: str) -> bool:
        """Answer text in ``holdback`` mode; True when it made the first text visible."""

    @abstractmethod
    def _take(self, item: Call) -> None:
        """A call for the guards (the stage is neither stopped nor closed)."""

    # -- RunSink (called by the adapter) --------------------------------------------------
    def token(self, text: str) -> bool:
        """True when this delta made the answer's first text visible (``RunSink.token``)."""
        if self._on_arrival is not None:
            self._on_arrival()
        if self._error is not None:
            self._raise_deferred()
        if self._stopped is not None or self._closed:
            return False
        if self._stream_first:
            first = self._next.token(text) is True
            self._take(text)
            return first
        return self._hold(text)

    def reasoning(self, text: str) -> None:
        if self._stopped is not None or self._closed:
            return
        if self._stream_first:
            self._next.reasoning(text)
        self._take(("reasoning", (text,)))

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self._step("tool_start", (call_id, name, args))

    def tool_end(
        self,
        call_id: str,
        name: str,
        output: Any,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        self._step("tool_end", (call_id, name, output, error, run_id))

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._step("retrieval", (documents,))

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        self._step("custom", (name, data, error))

    def node(self, phase: NodePhase, name: str, step: int | None) -> None:
        self._step("node", (phase, name, step))

    def update(self, name: str, update: Any) -> None:
        self._step("update", (name, update))

    def state(self, values: Any) -> None:
        self._step("state", (values,))

    def interrupt(
        self, interrupt_id: str, value: Any, approvals: Sequence[dict[str, Any]] = ()
    ) -> None:
        self._step("interrupt", (interrupt_id, value, approvals))

    def model(self, name: str, provider: str | None) -> None:
        self._next.model(name, provider)

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        # Usage is bookkeeping, not shown text: it never waits behind the guards.
        self._next.usage(input_tokens, output_tokens, model, cached_input_tokens)

    def guardrail(self, finding: Finding, *, shown: bool = False) -> None:
        self._next.guardrail(finding, shown=shown)

    # -- lifecycle --------------------------------------------------------------------------
    async def drain(self) -> None:
        """Release the held text (the stream has ended); a form's own work ends after."""
        self._raise_deferred()
        self._enqueue(CLOSE)
        self._closed = True

    def discard_unshown(self) -> None:
        """An attempt failed: nothing of it that is not shown yet may ever be (a retry or a
        fallback starts over, or continues after what was shown)."""
        self._epoch += 1
        self._answer.discard()
        self._reasoning.discard()

    def restart(self) -> None:
        """The run restarts (``run.restart``): what was shown is discarded by the client, so
        the next answer is scanned as a new text (after :meth:`discard_unshown`)."""
        self._answer.restart()
        self._reasoning.restart()
        self._shown = False  # the new answer's first words are scanned at once again
        self._next.restart()

    def cancel(self) -> None:
        """Drop held text (the run was cancelled: nobody may see unchecked text)."""
        self._closed = True

    # -- the guards' side -------------------------------------------------------------------
    def _step(self, method: str, args: tuple[Any, ...]) -> None:
        """A non-token event: it ends a text segment, so what is held goes before it. In
        ``stream_first`` mode nothing waits for the guards — the text around it was shown at
        once — so it is passed on now too (queued behind an async guard's scan, it would
        land after text the model produced later)."""
        if self._stream_first and self._stopped is None and not self._closed:
            getattr(self._next, method)(*args)
            self._enqueue(FLUSH)
            return
        self._enqueue((method, args))

    def _enqueue(self, item: Call) -> None:
        if self._stopped is None and not self._closed:
            self._take(item)

    def _raise_deferred(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    async def _process(self, batch: list[Call]) -> bool:
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
    """``with GUARD_ERRORS:`` a guard's exception becomes :class:`GuardFailed`; the log's
    own limit passes as it is. One shared instance: entered on every flush, it allocates
    nothing (a ``@contextmanager`` would build a generator each time)."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, _tb: object
    ) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, (EventLogFull, GuardFailed)):
            raise GuardFailed(f"a guardrail failed: {type(exc).__name__}: {exc}") from exc


GUARD_ERRORS = _GuardErrors()
