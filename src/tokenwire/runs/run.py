"""A run: one execution of a route's runnable, independent of any connection."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from tokenwire.actions.live_approvals import LiveApprovals
from tokenwire.actions.scope import ActionScope
from tokenwire.broker.base import EventLog
from tokenwire.events import ErrorCode, RunStatus
from tokenwire.routes import DisconnectPolicy
from tokenwire.runs.recorder import RunRecorder

__all__ = ["DISCONNECTED_REASON", "Run"]

_RECANCEL_SECONDS = 0.05
_RECANCELS = 100
#: The cancel reason of a run whose last client left (``on_disconnect = "cancel"``).
DISCONNECTED_REASON = "client disconnected"


@dataclass(eq=False)
class Run:
    """State of one run; its events live in ``log``, its work in ``task``.

    Connections attach as subscribers. When the last one detaches and the policy is
    ``cancel``, the run is cancelled after ``grace_seconds`` unless someone rejoins.
    """

    id: str
    route: str
    log: EventLog
    on_disconnect: DisconnectPolicy
    grace_seconds: float
    trace_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    #: Alias of the key that started the run: only it (or a moderator) may read or cancel it.
    owner: str | None = None
    #: Hash of the request that created the run, to refuse a reused idempotency key.
    fingerprint: str | None = None
    #: The LangGraph thread the run is on (None: a run of its own).
    thread_id: str | None = None
    #: The caller's span the run continues (W3C ``traceparent``), 16 hex digits.
    parent_span_id: str | None = None
    #: The route's model as ``run.start`` names it (set at launch; None for chains).
    model: str | None = field(default=None, repr=False)
    #: The wire protocol the run was started on: native, openai, langserve, ai_sdk, ws.
    protocol: str = "native"
    #: Who its metrics and cost are attributed to: a bounded name (a key's alias or
    #: department, a token's department, ``jwt``), never a token's subject.
    key_label: str = "anonymous"
    #: Its rollout cohort: ``stream``, ``batch`` (``ainvoke``, delivered at once) or
    #: ``shadow`` (a background copy nobody sees); and the ``variant`` that served it.
    cohort: str = "stream"
    variant: str = "stable"
    created_at: float = field(default_factory=time.time)
    status: RunStatus = RunStatus.RUNNING
    ended_at: float | None = None
    #: Filled by the recorder as the run goes; the final ``run.end`` data when it ends.
    summary: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    recorder: RunRecorder | None = field(default=None, repr=False)
    #: What its ``@action`` calls key on and how they went (set at launch).
    actions: ActionScope | None = field(default=None, repr=False)
    #: The questions its ``@action(requires_approval=True)`` calls wait on while it runs.
    approvals: LiveApprovals | None = field(default=None, repr=False)
    cancel_reason: str | None = None
    #: Set by ``stop``: the status, error code and message the run ends with.
    stop_outcome: tuple[RunStatus, ErrorCode, str] | None = None
    subscribers: int = 0
    #: Token events delivered when the last subscriber left (None while someone listens).
    left_at_token: int | None = None
    _grace: asyncio.TimerHandle | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status is not RunStatus.RUNNING

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called (its cancellation may not have landed yet)."""
        return self.stop_outcome is not None

    @property
    def abandoned(self) -> bool:
        """Cancelled because its last client left, not because anyone asked."""
        return self.status == RunStatus.CANCELLED and self.cancel_reason == DISCONNECTED_REASON

    def stop(self, status: RunStatus, code: ErrorCode, message: str) -> bool:
        """End the run now with ``status`` (a guardrail blocked it, a budget ran out): like
        ``cancel``, but the run ends with this status and error instead of ``cancelled``."""
        if self.stop_outcome is None:
            self.stop_outcome = (status, code, message)
        return self.cancel(message)

    def cancel(self, reason: str) -> bool:
        """Stop generation now; returns False if the run had already ended."""
        task = self.task
        if self.done or task is None or task.done():
            return False
        if self.cancel_reason is None:
            self.cancel_reason = reason
        loop = asyncio.get_running_loop()
        cancel = task.cancel
        if task is asyncio.current_task(loop):
            # The run stops itself (an inline guard, a budget): cancel it at its next await.
            # Cancelling the running task directly would also cancel it after it returned, had
            # it ended without awaiting again — its outcome is already recorded by then.
            loop.call_soon(cancel)
        else:
            cancel()
        # Some libraries swallow a cancellation (asyncio.wait_for on Python 3.11 loses one
        # that races a result): insist until the task has really ended.
        loop.call_later(_RECANCEL_SECONDS, self._insist, _RECANCELS)
        return True

    async def settle(self, wait_seconds: float) -> None:
        """Wait up to ``wait_seconds`` for the run to end (after ``cancel``)."""
        if self.task is not None and not self.task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.task), wait_seconds)

    def _insist(self, left: int) -> None:
        if self.task is None or self.task.done() or left <= 0:
            return
        self.task.cancel()
        asyncio.get_running_loop().call_later(_RECANCEL_SECONDS, self._insist, left - 1)

    def attach(self) -> None:
        self.subscribers += 1
        self.left_at_token = None
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def detach(self) -> None:
        self.subscribers -= 1
        if self.subscribers > 0 or self.done:
            return
        self.left_at_token = self.recorder.token_events if self.recorder is not None else 0
        if self.on_disconnect != "cancel":
            return
        if self.grace_seconds <= 0:
            self.cancel(DISCONNECTED_REASON)
            return
        loop = asyncio.get_running_loop()
        self._grace = loop.call_later(self.grace_seconds, self._cancel_if_abandoned)

    def _cancel_if_abandoned(self) -> None:
        self._grace = None
        if self.subscribers == 0:
            self.cancel(DISCONNECTED_REASON)

    def finish(self, status: RunStatus, summary: dict[str, Any]) -> None:
        self.status = status
        self.summary = summary
        self.ended_at = time.time()
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def tokens_after_disconnect(self) -> int:
        """Token events generated after the last subscriber left: paid for, never read."""
        if self.left_at_token is None or self.recorder is None:
            return 0
        return self.recorder.token_events - self.left_at_token

    def delivered_output(self) -> Any:
        """The output exactly as the client saw it.

        Text is taken from what went out as ``token`` events (the recorder's ``text``):
        guards mask text before it reaches the log, whereas a completed run's
        ``run.end.output`` is the runnable's return value. A run that did not complete
        already reports its delivered partial text. A structured result that was never
        streamed as text is recorded as sent.
        """
        output = self.summary.get("output")
        recorder = self.recorder
        if recorder is None:
            return output
        if self.status is not RunStatus.COMPLETED:
            return recorder.text
        if recorder.token_events and (output is None or isinstance(output, str)):
            return recorder.text
        return output

    def snapshot(self) -> dict[str, Any]:
        """Status, output so far, usage and timings (``GET /v1/runs/{id}``)."""
        summary = self.summary
        live = self.recorder if not self.done else None
        return {
            "run_id": self.id,
            "route": self.route,
            "thread_id": self.thread_id,
            "status": self.status.value,
            "trace_id": self.trace_id,
            "created_at": self.created_at,
            "ended_at": self.ended_at,
            "last_seq": self.log.last_seq,
            "subscribers": self.subscribers,
            "on_disconnect": self.on_disconnect,
            "output": live.text if live is not None else summary.get("output"),
            "usage": live.usage_data() if live is not None else summary.get("usage"),
            "timings": live.timings() if live is not None else summary.get("timings"),
            "error": summary.get("error"),
            "finish_reason": summary.get("finish_reason"),
            "metadata": self.metadata,
            **({"approvals": pending} if (pending := self._pending_approvals()) else {}),
        }

    def _pending_approvals(self) -> list[dict[str, Any]]:
        return self.approvals.pending if self.approvals is not None and not self.done else []
