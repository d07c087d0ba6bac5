"""The attempts of one run: the route's runnable, retried before its first event, then its
fallbacks in order, with the route's mid-stream policy deciding what a late failure means.

Whether a failure is "before the first token" is read off the event log: if the attempt
appended nothing (no token, tool step or retrieval), nobody saw anything and trying again
is invisible. Otherwise the mid-stream policy decides: ``error`` ends the run keeping the
partial output; ``restart`` appends ``run.restart`` (clients discard the partial text)
and streams the next fallback; ``continue`` asks the next fallback to continue the partial
answer. With no fallback left, every policy ends in ``error``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig

from tokenwire.actions.scope import current_scope
from tokenwire.broker.base import EventLog, EventLogFull
from tokenwire.errors import GuardFailed
from tokenwire.events import ErrorCode, EventType
from tokenwire.langchain.adapter import AdapterOptions, is_chat_model, model_name, stream_runnable
from tokenwire.langchain.custom_events import is_graph
from tokenwire.pipeline.stage import Stage
from tokenwire.reliability.accounting import AttemptUsage
from tokenwire.reliability.breaker import CircuitBreaker, Permit
from tokenwire.reliability.continuation import continuation_input
from tokenwire.reliability.fallbacks import (
    MidStreamPolicy,
    Upstream,
    as_fallback,
    invoke_as_token,
)
from tokenwire.reliability.stats import Reliability
from tokenwire.reliability.timeouts import DeadlineExceeded, Watchdog
from tokenwire.runs.failures import Failure, describe_failure
from tokenwire.usage.timing import Clock

if TYPE_CHECKING:
    from tokenwire.routes import Route
    from tokenwire.runs.recorder import RunRecorder

__all__ = ["Attempts", "AttemptsFailed"]

log = logging.getLogger("tokenwire.reliability")

#: How the retry backoff waits (``asyncio.sleep``; a test records the delays instead).
Sleep = Callable[[float], Awaitable[None]]


class AttemptsFailed(Exception):
    """Every upstream that was tried failed (or the mid-stream policy gave up)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class _Failed(Exception):
    """One upstream is done failing; ``delivered`` says whether clients saw any of it."""

    def __init__(self, failure: Failure, delivered: bool) -> None:
        self.failure = failure
        self.delivered = delivered


class Attempts:
    """Runs the attempt plan of one run into its recorder; ``await attempts.run()``.

    Time is read on the recorder's clock (the retry budget, the per-attempt watchdog) and
    the backoff waits with ``sleep``, so a test can script both.
    """

    def __init__(
        self,
        route: Route,
        input: Any,
        config: RunnableConfig,
        recorder: RunRecorder,
        log: EventLog,
        reliability: Reliability,
        *,
        expose_errors: bool = False,
        sink: Stage | None = None,
        stopped: Callable[[], bool] = lambda: False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._route = route
        self._clock: Clock = recorder.clock
        self._sleep = sleep
        #: Whether the run stopped itself (a guardrail, a budget) — its cancellation lands at
        #: the task's next await, which a failing attempt may never reach.
        self._stopped = stopped
        # What the adapter reports to: the recorder, or a pipeline in front of it (guardrails).
        self._sink: Stage = sink if sink is not None else recorder
        self._input = input
        self._config = config
        self._recorder = recorder
        self._log = log
        self._reliability = reliability
        self._expose = expose_errors
        self.usage = AttemptUsage(recorder)
        self.number = 0
        self.fallback_used: str | None = None
        self._continued = False

    async def run(self) -> Any:
        """The final output; raises :class:`AttemptsFailed` when no attempt succeeded."""
        plan = plan_upstreams(self._route)
        input = self._input
        failure: Failure | None = None
        for upstream in plan:
            breaker = self._breaker(upstream)
            permit = breaker.allow() if breaker is not None else None
            if breaker is not None and permit is None:
                self._reliability.stats.breaker_skips += 1
                failure = Failure(
                    ErrorCode.UPSTREAM_ERROR, f"upstream {upstream.name!r} is unavailable", True
                )
                continue
            if upstream.is_fallback:
                self.fallback_used = upstream.name
                self._reliability.stats.fallbacks += 1
                input = self._on_thread(input, upstream)
            try:
                output = await self._with_retries(upstream, input, permit)
            except _Failed as failed:
                failure = failed.failure
                if failed.delivered:
                    input = self._after_mid_stream(failure, upstream, plan)
                continue
            if self._continued and isinstance(output, str):
                return self._recorder.text
            return output
        assert failure is not None
        raise AttemptsFailed(failure)

    def _on_thread(self, input: Any, upstream: Upstream) -> Any:
        """A fallback graph's input. On a thread an attempt that ran checkpointed the
        input, and the fallback graph has the thread's checkpointer (``ThreadGate``): it
        carries on from there, its failed node re-running as the same task, so the node's
        actions replay. Sent again, the input would start a new task (new action keys: a
        second ticket) and be added to the state twice."""
        if self.number == 0 or not is_graph(upstream.runnable):
            return input
        return redo_input(input, self._config)

    def _breaker(self, upstream: Upstream) -> CircuitBreaker | None:
        policy = self._route.circuit_breaker
        if policy is None:
            return None
        return self._reliability.breakers.for_upstream(upstream.runnable, upstream.name, policy)

    async def _with_retries(self, upstream: Upstream, input: Any, permit: Permit | None) -> Any:
        try:
            return await self._retrying(upstream, input, permit)
        finally:
            if permit is not None:  # cancelled, or stopped by the run itself: no outcome
                permit.abandoned()

    async def _retrying(self, upstream: Upstream, input: Any, permit: Permit | None) -> Any:
        policy = self._route.retry
        # The budget's start, read only when a retry can happen (no clock read otherwise).
        started = self._clock() if policy.max_retries else 0.0
        retry = 0
        while True:
            seq = self._log.last_seq
            try:
                output = await self._attempt(upstream, input)
            except (EventLogFull, GuardFailed):
                raise  # the run's own limit or a guardrail's fault, not the upstream's
            except Exception as exc:
                error: Exception = exc
            else:
                if permit is not None:
                    permit.succeeded()
                return output
            if self._stopped():  # the stop is the outcome: no retry, no fallback, no failure
                raise asyncio.CancelledError
            # Before any await: a guard must not release the failed attempt's held text later.
            self._sink.discard_unshown()
            self._count(error)
            if permit is not None:
                permit.failed()
            failure = describe_failure(error, expose=self._expose)
            delivered = self._log.last_seq != seq
            delay = None if delivered else policy.next_delay(retry, error, self._clock() - started)
            if delay is None:
                raise _Failed(failure, delivered)
            log.info(
                "retrying upstream %r in %.2f s after %s", upstream.name, delay, failure.message
            )
            self._reliability.stats.retries += 1
            retry += 1
            input = redo_input(input, self._config)
            await self._sleep(delay)

    async def _attempt(self, upstream: Upstream, input: Any) -> Any:
        self.number += 1
        actions = current_scope.get()
        if actions is not None:
            actions.new_attempt()
        config = self._config_for_attempt()
        route = self._route
        self.usage.begin()
        try:
            # A batch call (a non-streaming upstream) has no first token or gaps to time:
            # its answer arrives at once at the end, bounded by ``total_timeout`` only.
            timed = route.first_token_timeout is not None or route.stall_timeout is not None
            if not (timed and upstream.streaming):
                return await self._call(upstream, input, config)
            async with Watchdog(
                self._recorder,
                first_token=route.first_token_timeout,
                stall=route.stall_timeout,
                now=self._clock,
            ):
                return await self._call(upstream, input, config)
        finally:
            self.usage.end()

    async def _call(self, upstream: Upstream, input: Any, config: RunnableConfig) -> Any:
        if upstream.streaming:
            return await stream_runnable(
                upstream.runnable, input, config, self._sink, upstream.options, self._recorder.steps
            )
        return await invoke_as_token(upstream.runnable, input, config, self._sink)

    def _config_for_attempt(self) -> RunnableConfig:
        if self.number == 1:
            return self._config
        # The first attempt's LangChain run id is the tokenwire run id; later attempts are
        # separate LangChain runs and need ids of their own.
        config = self._config.copy()
        config["run_id"] = uuid.uuid4()
        config["metadata"] = {**config.get("metadata", {}), "tokenwire_attempt": self.number}
        return config

    def _after_mid_stream(self, failure: Failure, upstream: Upstream, plan: list[Upstream]) -> Any:
        """The next fallback's input under the route's policy; raises when the policy ends it."""
        policy: MidStreamPolicy = self._route.mid_stream
        following = plan[upstream.index + 1 :]
        if policy == "error" or not following:
            raise AttemptsFailed(failure)
        if policy == "restart":
            self._reliability.stats.restarts += 1
            self._log.append(
                EventType.RESTART, {"reason": failure.code.value, "attempt": self.number + 1}
            )
            self._sink.restart()  # every stage withdraws what was shown, the recorder too
            self._continued = False
            return self._input
        continued = self._continuation(following[0])
        if continued is None:
            self._reliability.stats.continuations_refused += 1
            raise AttemptsFailed(failure)
        self._reliability.stats.continuations += 1
        self._continued = True
        return continued

    def _continuation(self, fallback: Upstream) -> Any:
        if self._recorder.tool_calls > 0:
            log.info("not continuing run after a mid-stream failure: it executed tools")
            return None
        if not is_chat_model(fallback.runnable):
            log.info("not continuing on %r: continuations need a chat model", fallback.name)
            return None
        return continuation_input(self._input, self._recorder.text)

    def _count(self, error: Exception) -> None:
        if isinstance(error, DeadlineExceeded):
            stats = self._reliability.stats
            if error.kind == "first_token":
                stats.first_token_timeouts += 1
            elif error.kind == "stall":
                stats.stall_timeouts += 1


def redo_input(input: Any, config: RunnableConfig) -> Any:
    """The input a retry sends. On a LangGraph thread the failed attempt already
    checkpointed its input: the retry carries on from there (``None``) instead of sending
    it again, which would add it to the state twice. A ``Command`` (a resume) is sent
    again: LangGraph applies it to the interrupt it answers, once."""
    on_thread = "thread_id" in config.get("configurable", {})
    if not on_thread or input is None or type(input).__module__.startswith("langgraph"):
        return input
    return None


def plan_upstreams(route: Route) -> list[Upstream]:
    """The route's runnable, then its fallbacks in order."""
    options = AdapterOptions(
        route.mode, route.answer_tag, route.progress, route.output, route.step_values
    )
    plan = [Upstream(0, route.name, route.runnable, route.streaming, options)]
    for n, fallback in enumerate(map(as_fallback, route.fallbacks), start=1):
        name = fallback.name or model_name(fallback.runnable) or f"fallback-{n}"
        options = AdapterOptions(
            fallback.mode, fallback.answer_tag, route.progress, route.output, route.step_values
        )
        streaming = fallback.streaming and route.streaming  # a batch run stays batch
        plan.append(Upstream(n, name, fallback.runnable, streaming, options))
    return plan
