"""A route: a named runnable and how its runs stream."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from langchain_core.runnables import Runnable

from tokenwire.langchain.output import Shape
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.masking import Masking
from tokenwire.reliability.breaker import BreakerPolicy
from tokenwire.reliability.fallbacks import Fallback, MidStreamPolicy, as_fallback
from tokenwire.reliability.retry import RetryPolicy
from tokenwire.rollout.spec import RolloutPolicy

__all__ = [
    "DisconnectPolicy",
    "MidStreamPolicy",
    "Multitask",
    "OutputShape",
    "RolloutPlan",
    "Route",
    "RunOptions",
    "StreamMode",
]

StreamMode = Literal["auto", "tokens", "events"]
DisconnectPolicy = Literal["cancel", "continue"]
#: What a start on a thread with a live run does (LangGraph's multitask strategies):
#: ``reject`` it (409), ``enqueue`` it after the live run, ``interrupt`` the live run (its
#: progress is kept) or ``rollback`` the live run (the new run starts from where it began).
Multitask = Literal["reject", "enqueue", "interrupt", "rollback"]
#: ``run.end.output``: ``auto`` (a string stays one, a message or a state with messages is
#: the answer's text, anything else plain JSON), the delivered answer ``text``, a graph's
#: whole ``state``, or its ``messages`` (as ``{type, content, tool_calls?}``).
OutputShape = Shape


@dataclass(frozen=True, slots=True)
class Route:
    """What ``POST /v1/routes/{name}/runs`` runs.

    ``mode``: ``tokens`` streams ``runnable.astream`` (cheapest; answer tokens only),
    ``events`` streams ``astream_events`` (tool, retrieval and reasoning events too),
    ``auto`` picks ``tokens`` for a bare chat model and ``events`` otherwise.
    ``answer_tag``: in events mode, only chat models with this tag produce ``token`` events
    (default: the outermost chat model).
    ``progress``: in events mode, a LangGraph graph's nodes are reported as they start and
    end (``node.start`` / ``node.end`` events with the node's name), so a UI can show which
    step runs.

    Reliability (all off by default): ``first_token_timeout``, ``stall_timeout`` (largest
    gap between tokens; neither applies to a non-streaming upstream, whose answer comes
    whole) and ``total_timeout`` in seconds; ``retry`` before the first token;
    ``fallbacks`` (runnables or :class:`Fallback`), tried in order; ``mid_stream`` — what a
    failure after the first token does: ``error``, ``restart`` or ``continue`` on the next
    fallback; ``circuit_breaker`` per upstream.

    Governance: ``guardrails`` on the output stream (hold-back) and the input;
    ``budget`` — per-run ``max_output_tokens`` / ``max_cost_usd``.

    ``output``: the shape of ``run.end.output`` (:data:`OutputShape`).

    Threads (a LangGraph graph): ``multitask`` — what a start on a thread whose run is
    still live does, unless the request says (``reject`` by default). ``step_values``:
    the graph's whole state is logged (``graph.state``) after every step, not only when it
    stops — a copy of the state per step; the LangGraph API asks for it per run
    (:class:`RunOptions`) when a client streams ``values``.
    """

    name: str
    runnable: Runnable[Any, Any]
    mode: StreamMode = "auto"
    answer_tag: str | None = None
    progress: bool = False
    on_disconnect: DisconnectPolicy = "cancel"
    description: str = ""
    first_token_timeout: float | None = None
    stall_timeout: float | None = None
    total_timeout: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fallbacks: Sequence[Fallback | Runnable[Any, Any]] = ()
    mid_stream: MidStreamPolicy = "error"
    circuit_breaker: BreakerPolicy | None = None
    guardrails: Guardrails | None = None
    budget: RunBudget | None = None
    multitask: Multitask = "reject"
    output: OutputShape = "auto"
    #: False: the runnable is called with ``ainvoke`` and its answer delivered at once
    #: (the rollout's ``batch`` cohort), fallbacks too.
    streaming: bool = True
    #: Canary variants, a shadow and streaming vs batch cohorts (:class:`RolloutPlan`).
    rollout: RolloutPlan | None = None
    step_values: bool = False

    @property
    def masking(self) -> Masking | None:
        """Where the route's PII detectors mask what its runs let out (its guardrails')."""
        return self.guardrails.masking if self.guardrails is not None else None

    def __post_init__(self) -> None:
        # Frozen: normalise once, so the run path only ever sees a tuple of Fallback.
        object.__setattr__(self, "fallbacks", tuple(as_fallback(f) for f in self.fallbacks))
        if self.mid_stream not in get_args(MidStreamPolicy):
            raise ValueError(f"mid_stream must be one of {get_args(MidStreamPolicy)}")
        if self.output not in get_args(OutputShape):
            raise ValueError(f"output must be one of {get_args(OutputShape)}")
        if self.multitask not in get_args(Multitask):
            raise ValueError(f"multitask must be one of {get_args(Multitask)}")
        for name in ("first_token_timeout", "stall_timeout", "total_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one request changes about its route, for its own run only.

    ``runnable``: runs in place of the route's (its chat model with the request's
    parameters bound, say: OpenAI's ``tools``, ``temperature``, …); the route's fallbacks,
    guardrails and policies stay. ``budget``: tightens the route's (OpenAI's
    ``max_tokens``), field by field. ``identity``: what the options were made from, as
    plain JSON (the request's parameters), so an ``Idempotency-Key`` reused with other
    options is a conflict, not a replay. ``step_values``: log the graph's state after
    every step (:attr:`Route.step_values`); what is logged, not what runs, so it is no
    part of ``identity``.
    """

    runnable: Runnable[Any, Any] | None = None
    budget: RunBudget | None = None
    identity: Any = None
    #: Makes ``runnable`` for another route's runnable (a rollout variant's) than the one
    #: it was made from (``source``), so a canary gets the request's parameters too.
    rebind: Callable[[Runnable[Any, Any]], Runnable[Any, Any] | None] | None = None
    source: Runnable[Any, Any] | None = None
    step_values: bool = False

    def applied_to(self, route: Route) -> Route:
        changes: dict[str, Any] = {}
        runnable = self.runnable
        if self.rebind is not None and route.runnable is not self.source:
            runnable = self.rebind(route.runnable)
        if runnable is not None:
            changes["runnable"] = runnable
        if self.budget is not None:
            changes["budget"] = self.budget.tighter(route.budget)
        if self.step_values:
            changes["step_values"] = True
        return dataclasses.replace(route, **changes) if changes else route


@dataclass(frozen=True, slots=True)
class RolloutPlan:
    """A route's rollout: its ``policy`` (``[routes.NAME.rollout]``), the route each
    variant's runs use (by name; the route itself is ``stable``), and the ``shadow``'s.

    >>> plan = RolloutPlan.of(route, RolloutPolicy(variants=[VariantSpec(name="v2",
    ...     percent=10)]), variants={"v2": new_chain}, shadow=next_chain)
    """

    policy: RolloutPolicy
    variants: Mapping[str, Route] = field(default_factory=dict)
    shadow: Route | None = None

    def __post_init__(self) -> None:
        named = {variant.name for variant in self.policy.variants}
        if named != set(self.variants):
            raise ValueError(f"rollout variants {sorted(named)} need a route each")
        if (self.policy.shadow is None) != (self.shadow is None):
            raise ValueError("a rollout's shadow needs both its policy and its runnable")

    @classmethod
    def of(
        cls,
        route: Route,
        policy: RolloutPolicy,
        variants: Mapping[str, Runnable[Any, Any] | Route],
        shadow: Runnable[Any, Any] | None = None,
    ) -> RolloutPlan:
        """A plan whose variants are ``route`` with another runnable (or a route of
        their own)."""

        def variant(target: Runnable[Any, Any] | Route) -> Route:
            if isinstance(target, Route):
                return dataclasses.replace(target, name=route.name, rollout=None)
            return dataclasses.replace(route, runnable=target, rollout=None)

        built = {name: variant(target) for name, target in variants.items()}
        return cls(policy, built, variant(shadow) if shadow is not None else None)

    def route_of(self, stable: Route, variant: str, cohort: str) -> Route:
        """The route a run of ``variant`` in mode ``cohort`` uses."""
        chosen = self.variants.get(variant, stable)
        if cohort == "shadow" and self.shadow is not None:
            chosen = self.shadow
        if cohort == "batch" and chosen.streaming:
            chosen = dataclasses.replace(chosen, streaming=False)
        return chosen
