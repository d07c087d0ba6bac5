"""The run launcher: a run admitted by the gate becomes a registered run with its task.

It validates and shapes the input and config (``InvalidRequest``), registers the run
(``RegistryFull``), writes ``run.start`` and sets the run's body going — the recorder, the
guarded sink and the execution with retries and fallbacks — and, once the task is done,
releases what the run held (telemetry, the cluster's record, the run-end hooks).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig

from tokenwire.actions.durable import DurableLedger
from tokenwire.actions.keys import key_secret
from tokenwire.actions.ledger import Ledger
from tokenwire.actions.live_approvals import LiveApprovals
from tokenwire.actions.protection import ProtectedLedger, gateway_seal
from tokenwire.actions.scope import ActionScope, action_scope
from tokenwire.config import Settings
from tokenwire.errors import ConfigError
from tokenwire.events import EventType
from tokenwire.gateway.admission import Ticket
from tokenwire.gateway.hooks import Hooks
from tokenwire.gateway.rollouts import RouteRollouts
from tokenwire.gateway.run_tracing import traced
from tokenwire.gateway.services import Services
from tokenwire.gateway.shadows import Shadows
from tokenwire.gateway.threads import ThreadTicket
from tokenwire.langchain.adapter import model_name
from tokenwire.langchain.model_setup import prepare_models
from tokenwire.langchain.tracing import TraceClock
from tokenwire.pipeline.audit_input import InputSeal, audited_input
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.masked_logs import masked_context
from tokenwire.pipeline.masking import Masking, shown_input
from tokenwire.reliability.fallbacks import as_fallback
from tokenwire.rollout import Assignment
from tokenwire.routes import DisconnectPolicy, Route, RunOptions
from tokenwire.runs.execution import execute_run
from tokenwire.runs.inputs import prepare_config, prepare_input, unbuildable_input_schema
from tokenwire.runs.launch import end_unstarted, priced, route_budget, run_stages
from tokenwire.runs.recorder import RunRecorder
from tokenwire.runs.run import Run
from tokenwire.usage.timing import arrived_at

__all__ = ["RunLauncher", "route_table"]

log = logging.getLogger("tokenwire")


class RunLauncher:
    """Starts runs of ``routes`` with ``services``, calling ``hooks``."""

    def __init__(
        self,
        routes: Iterable[Route],
        services: Services,
        hooks: Hooks,
        rollouts: RouteRollouts | None = None,
    ) -> None:
        self.settings = services.settings
        self.broker = services.broker
        self.registry = services.registry
        self.cluster = services.cluster
        self.audit = services.audit
        self.telemetry = services.telemetry
        self.reliability = services.reliability
        self.actions = services.actions
        #: Deferred actions of runs that paused, by thread: the thread's next run settles them.
        self._any_run = services.any_run
        self.key_budget = hooks.key_budget
        self.run_end_hooks = hooks.run_end
        #: Encrypts the raw input of runs on routes with ``audit_input = "encrypted"``.
        self._input_seal = _input_seal(routes, self.settings)
        #: Seals the raw results of masked ``@action`` calls for replays: the key every
        #: replica has when set, else one of this gateway's own (``actions/protection.py``).
        self._result_seal = self._input_seal or gateway_seal()
        #: What ``@action`` keys are an HMAC under (None: unsalted, warned once, now).
        self._key_secret = key_secret(self.settings)
        #: Assigns each start its variant and cohort, and hears how runs ended.
        self.rollouts = rollouts
        #: Shadow runs in flight (never registered: no client can reach them).
        self.shadows = Shadows(self.settings.max_events_per_run)

    def start(
        self,
        route: Route,
        input: Any,
        ticket: Ticket,
        *,
        config: dict[str, Any] | None,
        on_disconnect: DisconnectPolicy | None,
        metadata: dict[str, Any] | None,
        thread: ThreadTicket | None = None,
        protocol: str = "native",
        options: RunOptions | None = None,
    ) -> Run:
        """Register and launch a run of ``route`` for the admitted ``ticket`` — on the
        admitted ``thread``, whose route and input replace ``route`` and ``input``; the
        request's ``options`` then apply to it. Raises ``InvalidRequest`` or
        ``RegistryFull`` before anything runs."""
        # When the server first saw the request (tokenwire.server.arrival), else now.
        arrived = arrived_at.get()
        now = self.telemetry.clock()
        received_at = now if arrived is None else arrived
        # Read together: a trace's wall-clock times are the gateway clock's (run_tracing).
        received = (received_at, datetime.now(UTC) - timedelta(seconds=now - received_at))
        run_config = prepare_config(route.runnable, config)
        if thread is None:
            value = prepare_input(route.runnable, input)
        else:
            route, value, run_config = thread.route, thread.input, thread.config(run_config)
            if thread.command is not None:
                input = {"command": thread.command}  # what the run was asked to do
        assignment = Assignment()
        stable = route
        if self.rollouts is not None and route.rollout is not None:
            thread_id = thread.thread_id if thread is not None else None
            assignment = self.rollouts.assign(route, ticket.owner, thread_id)
            route = route.rollout.route_of(route, assignment.variant, assignment.cohort)
        if options is not None:
            route = options.applied_to(route)
        run_id = ticket.run_uuid.hex
        run = Run(
            id=run_id,
            route=route.name,
            log=self.broker.create(run_id),
            on_disconnect=on_disconnect or route.on_disconnect,
            grace_seconds=self.settings.disconnect_grace_seconds,
            trace_id=ticket.trace_id,
            parent_span_id=ticket.parent_span_id,
            # The caller's key alias is set here, never taken from client metadata.
            metadata={**shown_input(route.masking, metadata or {}), "key_alias": ticket.owner},
            owner=ticket.owner,
            idempotency_key=ticket.key,
            fingerprint=ticket.fingerprint,
            thread_id=thread.thread_id if thread is not None else None,
            protocol=protocol,
            key_label=ticket.label,
            cohort=assignment.cohort,
            variant=assignment.variant,
        )
        self.registry.add(run)
        self._launch(run, ticket.run_uuid, route, value, run_config, received)
        if self.cluster is not None:
            # Once launched: other replicas hear only of runs that run (and will end).
            self.cluster.opened(run, input)
        if self.audit is not None:
            self.audit.watch(run, audited_input(route.masking, input, self._input_seal))
        if assignment.shadow and thread is None:  # a shadow never writes a thread's state
            # Last: the primary is launched, announced and audited whatever the shadow does.
            shadow_route = stable.rollout.shadow if stable.rollout is not None else None
            if shadow_route is not None and options is not None:
                shadow_route = options.applied_to(shadow_route)  # the request's parameters
            self.shadows.start(
                stable, shadow_route, run, value, run_config, received, self._shadow_launch
            )
        return run

    def _launch(
        self,
        run: Run,
        run_uuid: uuid.UUID,
        route: Route,
        value: Any,
        config: RunnableConfig,
        received: tuple[float, datetime],
    ) -> None:
        """Give the registered run its task. Whatever fails while setting it up, the run
        still gets one: a task that ends it ``failed`` (``internal``), so nothing is left
        registered as running with no one to end it."""
        received_at = received[0]
        try:
            body = self._run_body(run, run_uuid, route, value, config, received)
        except Exception as exc:
            log.error("run %s could not be started", run.id, exc_info=exc)
            run.recorder = run.recorder or RunRecorder(
                run.log, arrived_at=received_at, clock=self.telemetry.clock
            )
            body = end_unstarted(run, run.recorder)
        masking = route.masking
        run.task = asyncio.get_running_loop().create_task(
            body,
            name=f"tokenwire-run-{run.id}",
            # A masked route's run logs masked lines, whoever writes them.
            context=masked_context(masking.text) if masking is not None else None,
        )
        self.telemetry.run_started(route)
        run.task.add_done_callback(lambda _: self._run_ended(run, route))

    def _shadow_launch(
        self, run: Run, route: Route, value: Any, config: RunnableConfig, received: Any
    ) -> None:
        """Launch a shadow ``run`` as any run — and audit it — but with an action scope
        that executes nothing."""
        run_uuid = uuid.UUID(hex=run.id)
        self._launch(run, run_uuid, route, value, config, received)
        if run.actions is not None:
            run.actions.shadow = True
        if self.audit is not None:
            self.audit.watch(run, audited_input(route.masking, value, self._input_seal))

    def _run_body(
        self,
        run: Run,
        run_uuid: uuid.UUID,
        route: Route,
        value: Any,
        config: RunnableConfig,
        received: tuple[float, datetime],
    ) -> Coroutine[Any, Any, None]:
        run.model = model_name(route.runnable)
        start = {
            "run_id": run.id,
            "route": route.name,
            "trace_id": run.trace_id,
            "cohort": run.cohort,
            "variant": run.variant,
            "model": run.model,
        }
        if run.thread_id is not None:
            start["thread_id"] = run.thread_id
        run.log.append(EventType.RUN_START, start)
        masking = route.masking
        telemetry = self.telemetry
        recorder = telemetry.recorder(
            run,
            route,
            value,
            received[0],
            mask_tool_io=masking.on("tool_io") if masking is not None else None,
            mask_custom=masking.on_custom_events() if masking is not None else None,
        )
        budget = self._run_budget(run, route)
        stages = run_stages(
            run, route, recorder, budget, prices=telemetry.prices, estimate=telemetry.estimate
        )
        # The LangChain root run id is the tokenwire run id: traces and runs line up.
        config = config.copy()
        config["run_id"] = run_uuid
        config["metadata"] = {**config.get("metadata", {}), "tokenwire_run_id": run.id}
        config, trace = traced(config, run, recorder, masking, received)
        run.recorder = recorder
        body = execute_run(
            run,
            route,
            value,
            config,
            recorder,
            expose_errors=self.settings.expose_errors,
            reliability=self.reliability,
            sink=stages,
        )
        run.actions = self._action_scope(run, masking, resumes=_is_command(value))
        return _with_actions(body, run.actions, trace, run.approvals)

    def _action_scope(self, run: Run, masking: Masking | None, *, resumes: bool) -> ActionScope:
        """What the run's ``@action`` calls key on: its thread, else the request's
        idempotency key, else the run — what stays the same when the work is redone.
        ``resumes``: the run answers its thread's pause (a ``Command``), so it takes over the
        paused run's deferred calls; any other run on the thread discards them."""
        if run.thread_id is not None:
            lineage = f"thread:{run.thread_id}"
        elif run.idempotency_key is not None:
            lineage = f"key:{run.route}:{run.idempotency_key}"
        else:
            lineage = f"run:{run.id}"
        loop = asyncio.get_running_loop()
        mask = masking.on("tool_io") if masking is not None else None
        # Masked tool steps: the ledger records results and errors masked too, the raw
        # result sealed for replays (``actions/protection.py``).
        ledger: Ledger = self.actions
        if mask is not None:
            shared = self._input_seal is not None
            ledger = ProtectedLedger(self.actions, mask, self._result_seal, shared=shared)
        # Outermost: outcomes written with retries, else kept for the audit record.
        keep = run.recorder.unrecorded_action if run.recorder is not None else None
        ledger = DurableLedger(ledger, keep=keep)
        scope = ActionScope(
            lineage,
            run.id,
            ledger,
            loop,
            run.thread_id,
            mask,
            alive=self._run_alive,
            commit_timeout=self.settings.action_commit_timeout_seconds,
            key_secret=self._key_secret,
            report=run.recorder.action if run.recorder is not None else None,
            resumes=resumes,
        )
        if run.recorder is not None:
            timeout = self.settings.approval_timeout_seconds
            run.approvals = LiveApprovals(run.recorder.approval, timeout, mask)
            scope.ask = run.approvals.ask
        return scope

    async def _run_alive(self, run_id: str) -> bool:
        """Whether ``run_id`` is live on any replica (an action it holds may still end)."""
        found = await self._any_run(run_id)
        return found is not None and not found.done

    def _run_budget(self, run: Run, route: Route) -> RunBudget | None:
        """The route's budget, tightened by what the caller's key may still spend."""
        key_budget = self.key_budget(run.owner) if self.key_budget and run.owner else None
        budget = route_budget(route)
        if budget is None:
            return priced(key_budget, route)
        return budget.tighter(key_budget)

    def _run_ended(self, run: Run, route: Route) -> None:
        """Release what the run held. Each step on its own: one that raises (a metric, a
        Redis write) must not keep the others — a slot, a quota charge — from happening."""
        steps: list[Callable[[], None]] = [lambda: self.telemetry.run_finished(run, route)]
        if self.rollouts is not None:
            steps.append(functools.partial(self.rollouts.finished, run))
        if run.cohort != "shadow":  # a shadow is no replica's run and no caller's spend
            if self.cluster is not None:
                steps.append(functools.partial(self.cluster.closed, run))
            steps += [functools.partial(hook, run) for hook in self.run_end_hooks]
        for step in steps:
            try:
                step()
            except Exception:
                log.exception("run %s: a run-end step failed", run.id)


async def _with_actions(
    body: Coroutine[Any, Any, None],
    scope: ActionScope,
    trace: TraceClock | None,
    approvals: LiveApprovals | None,
) -> None:
    with action_scope(scope):
        try:
            await body
        finally:
            if approvals is not None:
                # A sync action still asking runs on in its worker thread after a cancel:
                # answered now, it goes on (and does not run) instead of waiting for ever.
                approvals.close()
            if trace is not None:
                _release(trace)


def _release(trace: TraceClock) -> None:
    """The run has ended (held-back text included): its trace's root runs may end."""
    try:
        trace.release()
    except Exception:  # a tracing client's failure must not fail the run's task
        log.exception("the LangSmith trace of a run could not be ended")


def route_table(routes: Iterable[Route]) -> dict[str, Route]:
    """Routes by name, their chat models (and their fallbacks') configured for streaming."""
    table: dict[str, Route] = {}
    for route in routes:
        if route.name in table:
            raise ConfigError(f"duplicate route name {route.name!r}")
        table[route.name] = route
        reason = unbuildable_input_schema(route.runnable)
        if reason:
            log.warning(
                "route %r: input not validated, its schema cannot be built: %s", route.name, reason
            )
        for runnable in (route.runnable, *(as_fallback(f).runnable for f in route.fallbacks)):
            prepare_models(runnable)
    return table


def _input_seal(routes: Iterable[Route], settings: Settings) -> InputSeal | None:
    """The key's seal, when set — and required by a route that audits its input encrypted."""
    if settings.audit_input_key:
        return InputSeal(settings.audit_input_key.get_secret_value())
    for route in routes:
        masking: Masking | None = route.masking
        if masking is not None and masking.covers("input") and masking.audit_input == "encrypted":
            raise ConfigError(
                f'route {route.name!r} has audit_input = "encrypted" but no audit_input_key '
                "is set (TOKENWIRE_AUDIT_INPUT_KEY)"
            )
    return None


def _is_command(value: Any) -> bool:
    """A LangGraph ``Command`` (a resume), told apart without importing LangGraph."""
    return type(value).__name__ == "Command" and type(value).__module__.startswith("langgraph")
