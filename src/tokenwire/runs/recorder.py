"""The run recorder: turns what the adapter reports into canonical events on the log."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import Any

from tokenwire import plain_json
from tokenwire.actions.scope import current_scope
from tokenwire.broker.base import EventLog, EventLogFull
from tokenwire.events import EventType
from tokenwire.langchain.sink import NodePhase
from tokenwire.langchain.steps import StepLog
from tokenwire.pipeline.findings import Finding
from tokenwire.plain_json import json_ready, valid_text
from tokenwire.runs.delivery import DeliveryLag
from tokenwire.usage.estimate import Estimator, heuristic_tokens
from tokenwire.usage.loop_lag import LoopLag
from tokenwire.usage.pricing import PriceTable
from tokenwire.usage.timing import Clock, summarize_gaps

__all__ = ["RunRecorder"]

log = logging.getLogger("tokenwire")

_TOKEN = EventType.TOKEN.value
_REASONING = EventType.REASONING.value


class RunRecorder:
    """The last :class:`~tokenwire.pipeline.stage.Stage` of a run: a token costs a clock
    read, a gap append and an event append. This is also where the gateway measures TTFT
    and inter-token latency — it already touches every token, so a second callback
    dispatch would only add cost.

    It keeps what the run delivered so far (``text``), summed usage and cost, and timings,
    so ``GET /v1/runs/{id}`` can answer while the run is live.

    Times: ``arrived_at`` is when the server first saw the request (TTFT counts from it, as
    the user waits from it), ``started_at`` when the run was launched (``queue_ms`` is the
    difference: auth, validation, admission, a thread's wait, a busy loop). A gap counts as
    a stall only for what the provider took: the time ``loop_lag`` saw the loop blocked
    inside it is the gateway's, not the provider's. ``on_first_token`` is called once, with
    the recorder, at the first token (the TTFT metric is observed then, not at run end).
    """

    __slots__ = (
        "_append",
        "_clock",
        "_estimate",
        "_input",
        "_loop_lag",
        "_mask_custom",
        "_mask_tool_io",
        "_on_first_token",
        "_parts",
        "_prices",
        "_provider_last",
        "_stall_threshold",
        "arrived_at",
        "cached_input_tokens",
        "cost_usd",
        "delivery",
        "first_token_at",
        "first_token_reported",
        "gaps",
        "guardrail_actions",
        "input_tokens",
        "interrupts",
        "last_token_at",
        "models",
        "output_tokens",
        "priced",
        "providers",
        "stall_gaps",
        "started_at",
        "steps",
        "tool_calls",
        "unlogged_actions",
        "usage_reports",
    )

    def __init__(
        self,
        log: EventLog,
        *,
        prices: PriceTable | None = None,
        stall_threshold: float = 1.0,
        estimate: Estimator = heuristic_tokens,
        input: Any = None,
        started_at: float | None = None,
        mask_tool_io: Callable[[Any], Any] | None = None,
        mask_custom: Callable[[Any], Any] | None = None,
        clock: Clock = perf_counter,
        arrived_at: float | None = None,
        loop_lag: LoopLag | None = None,
        on_first_token: Callable[[RunRecorder], None] | None = None,
    ) -> None:
        self._clock = clock
        self._append = log.append
        #: Settled actions a full log had no room for, and outcomes the action ledger did
        #: not take (``seq`` None): the audit keeps them.
        self.unlogged_actions: list[dict[str, Any]] = []
        #: The route's PII masking of tool steps and retrieved documents (None: in clear).
        self._mask_tool_io = mask_tool_io
        #: ... and of custom events' data and errors.
        self._mask_custom = mask_custom
        self._parts: list[str] = []
        self._prices = prices or PriceTable()
        self._stall_threshold = stall_threshold
        self._estimate = estimate
        self._input = input
        self.started_at = clock() if started_at is None else started_at
        # TTFT counts from when the request arrived (validation included), as a user sees it.
        self.arrived_at = self.started_at if arrived_at is None else arrived_at
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.gaps: array[float] = array("d")
        self._loop_lag = loop_lag
        self._on_first_token = on_first_token
        #: ``on_first_token`` returned: whatever it reported need not be reported again.
        self.first_token_reported = False
        #: (seconds after arrival, provider's share of the gap) of each stall, in order.
        self.stall_gaps: list[tuple[float, float]] = []
        #: The last delta's arrival at a stage before this one (guards that hold text
        #: back): once one reports arrivals, stalls are judged on them, not on tokens here.
        self._provider_last: float | None = None
        self.delivery = DeliveryLag(clock)
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_input_tokens = 0
        self.cost_usd = 0.0
        self.priced = True
        self.usage_reports = 0
        self.tool_calls = 0
        self.models: list[str] = []
        #: Model name → provider, as the run's chat models declared them (``ls_provider``).
        self.providers: dict[str, str] = {}
        self.guardrail_actions: list[dict[str, Any]] = []
        #: The ids of the interrupts the graph paused at (the run ends ``interrupted``).
        self.interrupts: list[str] = []
        #: Model calls, tool calls and retrievals, timed by the adapter (trace child spans).
        self.steps = StepLog(clock)

    # -- RunSink -------------------------------------------------------------------------
    def token(self, text: str) -> bool:
        now = self._clock()
        last = self.last_token_at
        if last is None:
            self.first_token_at = now
            if self._on_first_token is not None:
                self._first_token()
        else:
            gap = now - last
            self.gaps.append(gap)
            # Rare: the only branch a gap can take (unless the guards report arrivals).
            if gap > self._stall_threshold and self._provider_last is None:
                self._judge_gap(last, now, gap)
        self.last_token_at = now
        if not text.isascii():  # a lone surrogate would break every encoder of the log
            text = valid_text(text)
        self._parts.append(text)
        self._append(_TOKEN, {"text": text}).at = now  # what delivery lag counts from
        return last is None

    def provider_token(self) -> None:
        """A delta arrived from the model at the guards, which may hold it back a while:
        the provider's gap is measured here (a clock read per delta, guarded routes only)."""
        now = self._clock()
        last = self._provider_last
        if last is not None and now - last > self._stall_threshold:
            self._judge_gap(last, now, now - last)
        self._provider_last = now

    def _first_token(self) -> None:
        assert self._on_first_token is not None
        try:
            self._on_first_token(self)
        except Exception:  # a metric must never break the token path
            log.exception("the first-token callback failed")
        else:
            self.first_token_reported = True

    def _judge_gap(self, last: float, now: float, gap: float) -> None:
        """A stall is the provider's gap over the threshold: the time the loop was blocked
        inside it (the gateway could not read the chunk) is taken out first."""
        lag = self._loop_lag
        if lag is not None:
            lag.settle()
            gap -= lag.blocked_within(last, now)
        if gap > self._stall_threshold:
            self.stall_gaps.append((now - self.arrived_at, gap))

    def reasoning(self, text: str) -> None:
        self._append(_REASONING, {"text": valid_text(text)})

    # Tool steps and documents carry whatever a model or a tool produced: made plain JSON
    # once here, so no encoder of the log can fail on them later.
    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self.tool_calls += 1
        data = json_ready(self._masked({"call_id": call_id, "name": name, "args": args}, "args"))
        self._append(EventType.TOOL_START, data)
        self.steps.shown(call_id, input=data["args"])

    def tool_end(
        self,
        call_id: str,
        name: str,
        output: Any,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"call_id": call_id, "name": name, "output": output}
        if error is not None:
            data["error"] = error
        scope = current_scope.get()
        if run_id is not None and scope is not None and run_id in scope.replayed_in:
            data["replayed"] = True  # an @action inside it returned its recorded result
        data = json_ready(self._masked(data, "output", "error"))
        self._append(EventType.TOOL_END, data)
        self.steps.shown(call_id, output=data["output"])

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._append(
            EventType.RETRIEVAL, json_ready(self._masked({"documents": documents}, "documents"))
        )

    def custom(self, name: str | None, data: Any, error: str | None = None) -> None:
        event: dict[str, Any] = {"data": data} if name is None else {"name": name, "data": data}
        if error is not None:
            event["error"] = error
        mask = self._mask_custom
        if mask is not None:
            event = mask(event)  # the name too: code may build it from what a user said
        self._append(EventType.CUSTOM, json_ready(event))

    def node(self, phase: NodePhase, name: str, step: int | None) -> None:
        kind = EventType.NODE_START if phase == "start" else EventType.NODE_END
        self._append(kind, json_ready({"name": name, "step": step}))

    def update(self, name: str, update: Any) -> None:
        event = {"name": name, "update": update}
        mask = self._mask_custom  # the state holds what users, models and tools said
        if mask is not None:
            event = mask(event)
        self._append(EventType.NODE_UPDATE, json_ready(event))

    def state(self, values: Any) -> None:
        mask = self._mask_custom
        if mask is not None:
            values = mask(values)
        self._append(EventType.GRAPH_STATE, json_ready({"values": values}))

    def interrupt(
        self, interrupt_id: str, value: Any, approvals: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.interrupts.append(interrupt_id)
        event = {"interrupt_id": interrupt_id, "value": value}
        mask = self._mask_custom  # a value is what the graph's own code chose to show
        if mask is not None:
            event = mask(event)
        self._append(EventType.INTERRUPT, json_ready(event))
        for approval in approvals:
            self.approval(approval)

    def approval(self, approval: dict[str, Any]) -> None:
        """A tool call waiting for a human (``approval.required``), masked as tool steps."""
        self._append(
            EventType.APPROVAL_REQUIRED,
            json_ready(self._masked(dict(approval), "args", "description")),
        )

    def action(self, kind: str, data: dict[str, Any]) -> None:
        """A deferred action settled at the run's end (``action.committed`` / ``failed`` /
        ``discarded``): its arguments masked as tool steps are. A log at its event limit
        (a truncated run) has no room; the audit record still lists it."""
        event = json_ready(self._masked(dict(data), "args", "result", "error"))
        try:
            self._append(kind, event)
        except EventLogFull:
            self.unlogged_actions.append({"seq": None, "event": kind, **event})

    def unrecorded_action(self, kind: str, data: dict[str, Any]) -> None:
        """An action call's outcome the ledger would not take (``recorded: false``,
        :mod:`tokenwire.actions.durable`): for the audit record only — the agent had its
        result, clients its ``tool.end``."""
        event = json_ready(self._masked(dict(data), "args", "result", "error"))
        self.unlogged_actions.append({"seq": None, "event": kind, **event})

    def _masked(self, data: dict[str, Any], *fields: str) -> dict[str, Any]:
        mask = self._mask_tool_io
        if mask is not None:
            for name in fields:
                if name in data:
                    data[name] = mask(data[name])
        return data

    def model(self, name: str, provider: str | None) -> None:
        if name not in self.models:
            self.models.append(name)
        if provider:
            self.providers.setdefault(name, provider)

    def usage(
        self,
        input_tokens: int,
        output_tokens: int,
        model: str | None = None,
        cached_input_tokens: int = 0,
    ) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cached_input_tokens += cached_input_tokens
        self.usage_reports += 1
        if model and model not in self.models:
            self.models.append(model)
        # Priced per call: one run may call several models. One unpriced call makes the
        # run's cost unknown (None) rather than a misleading partial sum.
        cost = self._prices.cost(model, input_tokens, output_tokens, cached_input_tokens)
        if cost is None:
            self.priced = False
        else:
            self.cost_usd += cost

    def guardrail(self, finding: Finding, *, shown: bool = False) -> None:
        """A guard acted: the event says what and why, never the hidden text."""
        data: dict[str, Any] = {
            "action": finding.action.value,
            "rule": finding.rule,
            "detail": finding.detail,
        }
        if shown:  # stream_first mode: the text had already been shown (fails open)
            data["shown"] = True
        self.guardrail_actions.append(data)
        self._append(EventType.GUARDRAIL, data)

    # -- Stage: the recorder is the last stage, and holds nothing back --------------------
    def discard_unshown(self) -> None:
        pass

    async def drain(self) -> None:
        pass

    def cancel(self) -> None:
        pass

    # -- what the run delivered ------------------------------------------------------------
    def restart(self) -> None:
        """Forget the delivered text: after ``run.restart`` clients discard it too.

        Usage and timings stay: the discarded attempt was still paid for.
        """
        self._parts.clear()

    @property
    def clock(self) -> Clock:
        """The clock the recorder stamps tokens with (what a watchdog must read too)."""
        return self._clock

    @property
    def input(self) -> Any:
        """The run's input as the runnable received it (unmasked)."""
        return self._input

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def token_events(self) -> int:
        return len(self._parts)

    def usage_data(self) -> dict[str, Any]:
        """The ``usage`` event's data: the providers' reports summed, or — when no model
        reported usage — an estimate of the input and the delivered text, marked
        ``estimated`` (see ``tokenwire.usage.estimate``) and never priced."""
        if self.usage_reports:
            return {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cached_input_tokens": self.cached_input_tokens,
                "estimated": False,
                "cost_usd": round(self.cost_usd, 10) if self.priced else None,
            }
        return {
            "input_tokens": self._estimate(_as_text(self._input)) if self._input else 0,
            "output_tokens": self._estimate(self.text),
            "cached_input_tokens": 0,
            "estimated": True,
            "cost_usd": None,
        }

    @property
    def ttft(self) -> float | None:
        """Seconds from the request's arrival to the first token (None before it)."""
        first = self.first_token_at
        return None if first is None else first - self.arrived_at

    @property
    def queue(self) -> float:
        """Seconds from the request's arrival to the run's launch."""
        return max(self.started_at - self.arrived_at, 0.0)

    def timings(self) -> dict[str, Any]:
        """``run.end.timings`` (ms): TTFT and the queue from arrival, inter-token latency,
        provider stalls, delivery lag (token logged → written, over the writes so far),
        duration from launch."""
        end = self._clock()
        itl = summarize_gaps(self.gaps, self._stall_threshold)
        lag_p95, lag_max = self.delivery.summary()
        return {
            "ttft_ms": _ms(self.ttft),
            "queue_ms": _ms(self.queue),
            "itl_p50_ms": _ms(itl.p50),
            "itl_p95_ms": _ms(itl.p95),
            "itl_max_ms": _ms(itl.max),
            "stalls": len(self.stall_gaps),
            "delivery_lag_p95_ms": _ms(lag_p95),
            "delivery_lag_max_ms": _ms(lag_max),
            "duration_ms": _ms(end - self.started_at),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return plain_json.dumps(value).decode()
