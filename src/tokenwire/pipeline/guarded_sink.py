"""A ``RunSink`` that puts guardrails between the adapter and the run recorder.

The adapter's calls are queued (a token costs an append and, at most, one wake-up); a
worker task takes them in batches, runs the guards over held-back text (awaiting async
guards) and forwards what may be shown to the recorder, in order. A non-token event (a
tool step, a retrieval) ends a text segment, so held text is flushed before it.

``holdback`` (default) shows nothing a guard has not cleared. ``stream_first`` shows text
at once and runs the guards beside it — an audit mode that **fails open**: a redaction is
reported, but the text was already shown; a block or halt still stops the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
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
        self._queue: list[_Call | str] = []
        self._wake: asyncio.Future[None] | None = None
        self._stopped: Finding | None = None
        self._worker = asyncio.get_running_loop().create_task(self._work())

    @property
    def stopped(self) -> Finding | None:
        return self._stopped

    # -- RunSink (called by the adapter) --------------------------------------------------
    def token(self, text: str) -> None:
        if self._stream_first and self._stopped is None:
            self._recorder.token(text)
        self._enqueue(text)

    def reasoning(self, text: str) -> None:
        if self._stream_first and self._stopped is None:
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
        # A stop found now cancels the run's task (Run.stop): let that cancellation through.
        await asyncio.shield(self._worker)

    def cancel(self) -> None:
        """Drop held text (the run was cancelled: nobody may see unchecked text)."""
        self._worker.cancel()

    def _enqueue(self, item: _Call | str) -> None:
        if self._stopped is not None:
            return
        self._queue.append(item)
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

    def _apply(self, release: Release, *, reasoning: bool) -> None:
        recorder = self._recorder
        for finding in release.redactions:
            recorder.guardrail(finding, shown=self._stream_first)
        if release.text and not self._stream_first:
            (recorder.reasoning if reasoning else recorder.token)(release.text)
        if release.stop is not None:
            self._stopped = release.stop
            recorder.guardrail(release.stop, shown=False)
            self._on_stop(release.stop)
