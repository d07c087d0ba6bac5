"""A ``RunSink`` that puts guardrails between the adapter and the run recorder.

When every guard is synchronous (all the built-in ones are: regexes), each call is
handled at once, in the caller's task — a token costs a string append and, every few
tokens, one scan; no task switch. With an async guard (a classifier behind a network
call), calls are queued instead and a worker task, started on the first one, takes them in
batches and awaits the guards, so the model is never slowed down by the classifier. Either
way what may be shown is forwarded to the recorder in order, and a non-token event (a tool
step, a retrieval) ends a text segment, so held text is flushed before it.

``holdback`` (default) shows nothing a guard has not cleared. ``stream_first`` shows text
at once and runs the guards beside it — an audit mode that **fails open**: a redaction is
reported, but the text was already shown; a block or halt still stops the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

from tokenwire.pipeline.findings import Finding, Guard
from tokenwire.pipeline.holdback import HoldbackBuffer, Release
from tokenwire.runs.recorder import RunRecorder

__all__ = ["GuardMode", "GuardedSink"]

GuardMode = Literal["holdback", "stream_first"]
_Call = tuple[str, tuple[Any, ...]]


class GuardedSink:
    def __init__(
        self,
        recorder: RunRecorder,
        guards: Sequence[Guard],
        *,
        on_stop: Callable[[Finding], None],
        window: int | None = None,
        mode: GuardMode = "holdback",
    ) -> None:
        self._recorder = recorder
        self._answer = HoldbackBuffer(guards, window)
        self._reasoning = HoldbackBuffer(guards, window)
        self._on_stop = on_stop
        self._stream_first = mode == "stream_first"
        self._inline = self._answer.synchronous
        self._queue: list[_Call | str] = []
        self._wake: asyncio.Future[None] | None = None
        self._stopped: Finding | None = None
        self._closed = False
        self._worker: asyncio.Task[None] | None = None

    @property
    def stopped(self) -> Finding | None:
        return self._stopped

    # -- RunSink (called by the adapter) --------------------------------------------------
    def token(self, text: str) -> bool:
        if self._stopped is not None or self._closed:
            return False
        first = self._stream_first and self._recorder.token(text)
        if self._inline and not self._reasoning.held:  # the hot path: answer text, no switch
            return self._apply(self._answer.push_now(text), reasoning=False) or first
        self._enqueue(text)
        return first

    def reasoning(self, text: str) -> None:
        if self._stopped is not None or self._closed:
            return
        if self._stream_first:
            self._recorder.reasoning(text)
        self._enqueue(("reasoning", (text,)))

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self._enqueue(("tool_start", (call_id, name, args)))

    def tool_end(self, call_id: str, name: str, output: Any, error: str | None = None) -> None:
        self._enqueue(("tool_end", (call_id, name, output, error)))

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._enqueue(("retrieval", (documents,)))

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        # Usage is bookkeeping, not shown text: it never waits behind the guards.
        self._recorder.usage(input_tokens, output_tokens, model, cached_input_tokens)

    # -- lifecycle --------------------------------------------------------------------------
    async def drain(self) -> None:
        """Process everything queued and release the held text (the stream has ended)."""
        self._enqueue(("flush", ()))
        self._enqueue(("close", ()))
        self._closed = True
        if self._worker is not None:
            # A stop found now cancels the run's task (Run.stop): let that cancellation through.
            await asyncio.shield(self._worker)

    def cancel(self) -> None:
        """Drop held text (the run was cancelled: nobody may see unchecked text)."""
        self._closed = True
        if self._worker is not None:
            self._worker.cancel()

    def _enqueue(self, item: _Call | str) -> None:
        if self._stopped is not None or self._closed:
            return
        if self._inline:
            _run_now(self._process([item]))
            return
        self._queue.append(item)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

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
                getattr(self._recorder, method)(*args)
        return bool(pending) and await self._push(self._answer, "".join(pending))

    async def _flush(self, buffer: HoldbackBuffer) -> bool:
        return bool(buffer.held) and await self._push(buffer, "", final=True)

    async def _push(self, buffer: HoldbackBuffer, text: str, *, final: bool = False) -> bool:
        release = await buffer.push(text, final=final)
        self._apply(release, reasoning=buffer is self._reasoning)
        return release.stop is not None

    def _apply(self, release: Release, *, reasoning: bool) -> bool:
        """Forward a release; True when it made the answer's first text visible."""
        recorder = self._recorder
        first = False
        for finding in release.redactions:
            recorder.guardrail(finding, shown=self._stream_first)
        if release.text and not self._stream_first:
            if reasoning:
                recorder.reasoning(release.text)
            else:
                first = recorder.token(release.text)
        if release.stop is not None:
            self._stopped = release.stop
            recorder.guardrail(release.stop, shown=False)
            self._on_stop(release.stop)
        return first


def _run_now(step: Coroutine[object, None, bool]) -> bool:
    """Run ``step`` to its end now: with synchronous guards it never suspends, so the one
    ordering logic of ``_process`` serves both the inline and the worker mode."""
    try:
        step.send(None)
    except StopIteration as done:
        return bool(done.value)
    step.close()
    raise RuntimeError("a synchronous guard suspended")
