"""The thread gate: what a start on a LangGraph thread must pass, and thread lookups.

The gateway supplies the checkpointer to every graph route (opened at start-up, see
:func:`~tokenwire.threads.open_checkpointer`), so a run may carry a ``thread_id``. A start
on a thread:

1. is the caller's to make: a thread belongs to the key alias that first ran it (its
   checkpoints' metadata says so) and to one route; anyone else is told it does not exist;
2. holds the thread for its whole run. A thread with a live run is claimed by that run
   (in Redis with replicas, so two replicas never run one thread); a second start follows
   its ``multitask`` strategy: ``reject`` (409 ``ThreadBusy``), ``enqueue`` (wait for the
   live run to end), ``interrupt`` (cancel it; what it checkpointed is kept) or
   ``rollback`` (cancel it; the new run starts from the checkpoint it started from);
3. resumes with a ``command`` (LangGraph's ``Command``) instead of an input.

A holder that has ended — or vanished with its replica — never blocks: its claim is
taken over, so a client that resumes the moment it read ``run.end`` is not refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig

from tokenwire.errors import InvalidRequest, ThreadBusy, UnknownThread
from tokenwire.gateway.approval_expiry import ApprovalExpiry, Resume
from tokenwire.gateway.services import Services
from tokenwire.langchain.approvals import Approval, approvals_of, resume_value
from tokenwire.langchain.custom_events import is_graph
from tokenwire.langchain.output import to_jsonable
from tokenwire.reliability.fallbacks import Fallback, as_fallback
from tokenwire.routes import Multitask, Route
from tokenwire.runs.inputs import prepare_input
from tokenwire.runs.run import Run
from tokenwire.security.principal import current_principal
from tokenwire.threads.locks import Claims, LocalClaims
from tokenwire.threads.request import ThreadRequest

__all__ = ["ThreadGate", "ThreadTicket"]

log = logging.getLogger("tokenwire.threads")

FindRun = Callable[[str], Awaitable[Run | None]]

#: Threads are not scoped by route in the claims: a thread id names one thread.
_SCOPE = ""
#: How long ``interrupt`` / ``rollback`` wait for the cancelled run to end.
_CANCEL_WAIT_SECONDS = 10.0
#: How often ``enqueue`` looks again at the run it waits for.
_ENQUEUE_POLL_SECONDS = 1.0
#: ``rollback`` of a thread's first run: the thread starts over, empty.
_FRESH: Any = object()
#: At most this many holders are replaced (enqueued starts racing) before refusing.
_CLAIM_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class ThreadTicket:
    """A start admitted on a thread: its route (the graph with the gateway's
    checkpointer), the graph's input and how to configure the run."""

    route: Route
    thread_id: str
    #: A ``Command``, None (carry on from the last checkpoint) or the validated input.
    input: Any
    owner: str
    #: The request's command, as it came (what the audit record keeps as the input).
    command: dict[str, Any] | None = None
    #: Start from this checkpoint (``rollback``) instead of the thread's latest.
    checkpoint_id: str | None = None

    def config(self, config: RunnableConfig) -> RunnableConfig:
        from tokenwire.threads.graphs import thread_config

        return thread_config(
            config,
            self.thread_id,
            owner=self.owner,
            route=self.route.name,
            checkpoint_id=self.checkpoint_id,
        )


class ThreadGate:
    """Threads of the graph ``routes``, checkpointed with ``settings``' checkpointer."""

    def __init__(
        self, routes: Mapping[str, Route], services: Services, resume: Resume | None = None
    ) -> None:
        """``resume``: starts a run answering a thread's expired approvals (none: they
        never expire). With replicas, threads are claimed in Redis."""
        self._routes = routes
        self._settings = settings = services.settings
        cluster = services.cluster
        self._claims: Claims = cluster.thread_claims if cluster is not None else LocalClaims()
        #: Holders are looked up whoever owns them: another caller's live run still holds.
        self._any_run: FindRun = services.any_run
        self._threaded: dict[str, Route] = {}
        self._saver: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._releases: set[asyncio.Task[None]] = set()
        timeout = settings.approval_timeout_seconds
        self._expiry = (
            ApprovalExpiry(timeout, self.pending, self.approvals, resume) if resume else None
        )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the checkpointer when a route is a graph (and the ``threads`` extra is
        installed), and give it to every graph route compiled without one."""
        graphs = {name: r for name, r in self._routes.items() if is_graph(r.runnable)}
        if not graphs or self._saver is not None:
            return
        try:
            from tokenwire.threads.checkpointer import open_checkpointer
            from tokenwire.threads.graphs import with_checkpointer
        except ImportError as exc:  # the extra's packages are missing
            log.warning("threads are off: %s (pip install 'tokenwire[threads]')", exc)
            return
        self._saver = await self._stack.enter_async_context(open_checkpointer(self._settings))
        for name, route in graphs.items():
            threaded = with_checkpointer(route.runnable, self._saver)
            if threaded is not None:
                # Interrupts are seen in events mode only. Fallback graphs share the thread:
                # one that takes over carries on from the checkpoint the primary left.
                self._threaded[name] = dataclasses.replace(
                    route,
                    runnable=threaded,
                    mode="events",
                    fallbacks=[self._on_thread(f) for f in route.fallbacks],
                )

    def _on_thread(self, fallback: Fallback | Runnable[Any, Any]) -> Fallback:
        from tokenwire.threads.graphs import with_checkpointer

        fallback = as_fallback(fallback)
        threaded = with_checkpointer(fallback.runnable, self._saver)
        if threaded is None:
            return fallback
        return dataclasses.replace(fallback, runnable=threaded, mode="events")

    async def aclose(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._releases:
            await asyncio.gather(*self._releases, return_exceptions=True)
        await self._stack.aclose()
        self._saver = None
        self._threaded.clear()

    def threaded(self, route: str) -> bool:
        """Whether runs of ``route`` can be on threads (a graph, with the checkpointer open)."""
        return route in self._threaded

    # -- starts ------------------------------------------------------------------------------
    async def start_run(
        self,
        route: Route,
        request: ThreadRequest,
        input: Any,
        run_id: str,
        launch: Callable[..., Run],
    ) -> Run:
        """Admit the start (:meth:`enter`), ``launch(thread=ticket)`` its run, and hold the
        thread for the run until it ends."""
        async with self.enter(route, request, input, run_id) as ticket:
            run = launch(thread=ticket)
        self.held_by(ticket, run)
        return run

    @contextlib.asynccontextmanager
    async def enter(
        self, route: Route, request: ThreadRequest, input: Any, run_id: str
    ) -> AsyncIterator[ThreadTicket]:
        """Admit a start of ``run_id`` on ``request.thread_id``: raises ``UnknownThread``,
        ``InvalidRequest`` or ``ThreadBusy`` before yielding. Whatever the block raises
        gives the thread back; a run it started holds it until it ends (:meth:`held_by`)."""
        threaded = self._threaded_route(route)
        thread_id = _valid_thread_id(request.thread_id)
        if request.decisions is not None:  # what the approvals resume with, read now
            _, command = await self.approvals(thread_id, request.decisions)
            request = dataclasses.replace(request, command=command, decisions=None)
        value = self._input(threaded, request, input)
        meta = await self._meta(thread_id)
        self._check_access(thread_id, route, request, meta)
        strategy = request.multitask or route.multitask
        start_from = await self._hold(thread_id, run_id, strategy)
        try:
            if start_from is _FRESH:
                await self._saver.adelete_thread(thread_id)  # rolled back its first run
                start_from = None
            # What the holder wrote while this start waited (its first checkpoint) counts.
            meta = await self._meta(thread_id)
            self._check_access(thread_id, route, request, meta)
        except BaseException:
            await self._claims.release(_SCOPE, thread_id, run_id)
            raise
        owner = meta.owner if meta is not None and meta.owner else current_principal.get().alias
        ticket = ThreadTicket(threaded, thread_id, value, owner, request.command, start_from)
        try:
            yield ticket
        except BaseException:
            await self._claims.release(_SCOPE, thread_id, run_id)
            raise

    def held_by(self, ticket: ThreadTicket, run: Run) -> None:
        """``run`` started on the ticket's thread: it is free again once the run ends."""
        task = run.task
        if task is None or task.done():
            self._release_soon(ticket.thread_id, run.id)
            return
        task.add_done_callback(lambda _: self._ended(ticket, run))

    def _ended(self, ticket: ThreadTicket, run: Run) -> None:
        self._release_soon(ticket.thread_id, run.id)
        if self._expiry is not None:
            self._expiry.run_ended(ticket.thread_id, ticket.owner, run)

    def _release_soon(self, thread_id: str, run_id: str) -> None:
        release = asyncio.get_running_loop().create_task(
            self._claims.release(_SCOPE, thread_id, run_id)
        )
        self._releases.add(release)
        release.add_done_callback(self._releases.discard)

    # -- lookups -----------------------------------------------------------------------------
    async def state(self, thread_id: str) -> dict[str, Any]:
        """``GET /v1/threads/{id}``: the thread's latest state, masked as its route masks
        tool steps. ``UnknownThread`` unless the caller may see it."""
        from tokenwire.threads.state import thread_view

        route, config = await self._visible(thread_id)
        state = await route.runnable.aget_state(config)  # type: ignore[attr-defined]
        return _masked(route, thread_view(state, thread_id, route.name))

    async def history(self, thread_id: str, limit: int) -> list[dict[str, Any]]:
        """``GET /v1/threads/{id}/history``: one state per checkpoint, newest first."""
        from tokenwire.threads.state import thread_view

        route, config = await self._visible(thread_id)
        graph: Any = route.runnable
        views = []
        async for state in graph.aget_state_history(config, limit=limit):
            views.append(_masked(route, thread_view(state, thread_id, route.name)))
        return views

    async def graph(self, thread_id: str) -> tuple[Route, RunnableConfig]:
        """The threaded route (its graph has the checkpointer) of a thread the caller may
        see, and the thread's config — with its owner and route, so a state written with it
        (``aupdate_state``) stays the owner's; ``UnknownThread`` otherwise."""
        from tokenwire.threads.graphs import thread_config

        route, config = await self._visible(thread_id)
        meta = await self._meta(thread_id)
        owner = meta.owner if meta is not None and meta.owner else current_principal.get().alias
        return route, thread_config(config, thread_id, owner=owner, route=route.name)

    async def delete(self, thread_id: str) -> None:
        """Delete every checkpoint of a thread the caller may see (``UnknownThread``)."""
        await self._visible(thread_id)
        await self._saver.adelete_thread(thread_id)

    async def exists(self, thread_id: str) -> bool:
        """Whether a thread has checkpoints the caller may see."""
        meta = await self._meta(thread_id)
        return meta is not None and current_principal.get().owns(meta.owner)

    async def route_of(self, thread_id: str) -> str:
        """The route of a thread the caller may see (``UnknownThread`` otherwise)."""
        route, _ = await self._visible(thread_id)
        return route.name

    async def approvals(self, thread_id: str, decisions: Any) -> tuple[str, dict[str, Any]]:
        """``POST /v1/threads/{id}/approvals``: the route and the ``command`` that answer
        the thread's pending approvals with ``decisions``; ``InvalidRequest`` when they do
        not answer each pending call exactly once, as its review allows."""
        route, pending = await self._pending_approvals(thread_id)
        try:
            resume = resume_value(pending, decisions)
        except ValueError as exc:
            raise InvalidRequest([str(exc)]) from None
        return route.name, {"resume": resume}

    async def pending(self, thread_id: str) -> list[tuple[str, str]]:
        """``(call_id, interrupt_id)`` of each approval the thread waits for."""
        _, approvals = await self._pending_approvals(thread_id)
        return [(a.call_id, a.interrupt_id) for a in approvals]

    async def _pending_approvals(self, thread_id: str) -> tuple[Route, list[Approval]]:
        route, config = await self._visible(thread_id)
        state = await route.runnable.aget_state(config)  # type: ignore[attr-defined]
        return route, [
            approval
            for found in state.interrupts
            for approval in approvals_of(
                found.id, to_jsonable(found.value), getattr(found, "response_schema", None)
            )
        ]

    async def _visible(self, thread_id: str) -> tuple[Route, RunnableConfig]:
        meta = await self._meta(thread_id)
        if meta is None or not current_principal.get().owns(meta.owner):
            raise UnknownThread(thread_id)
        route = self._threaded.get(meta.route or "")
        if route is None:  # its route is gone from this gateway's configuration
            raise UnknownThread(thread_id)
        return route, {"configurable": {"thread_id": thread_id}}

    # -- the steps of a start ----------------------------------------------------------------
    def _threaded_route(self, route: Route) -> Route:
        threaded = self._threaded.get(route.name)
        if threaded is not None:
            return threaded
        if is_graph(route.runnable):
            reason = "threads are not available (the gateway has not started its checkpointer)"
        else:
            reason = "this route is not a LangGraph graph: it has no threads"
        raise InvalidRequest([f"thread_id: {reason}"])

    def _input(self, route: Route, request: ThreadRequest, input: Any) -> Any:
        from tokenwire.threads.graphs import resume_command

        if request.command is not None:
            if input is not None:
                raise InvalidRequest(["input: not allowed with a command (resume takes none)"])
            return resume_command(request.command)
        return None if input is None else prepare_input(route.runnable, input)

    async def _meta(self, thread_id: str) -> Any:
        from tokenwire.threads.state import thread_meta

        return await thread_meta(self._saver, thread_id)

    @staticmethod
    def _check_access(thread_id: str, route: Route, request: ThreadRequest, meta: Any) -> None:
        if meta is None:
            if request.command is not None:
                raise UnknownThread(thread_id)  # nothing to resume
            return
        if not current_principal.get().owns(meta.owner):
            raise UnknownThread(thread_id)  # another caller's: told as if absent
        if meta.route is not None and meta.route != route.name:
            raise InvalidRequest([f"thread_id: thread {thread_id!r} belongs to another route"])

    async def _hold(self, thread_id: str, run_id: str, strategy: Multitask) -> Any:
        """Claim the thread for ``run_id`` as ``strategy`` says; returns the checkpoint to
        start from when rolling back (``_FRESH``: the thread had none before its holder).
        The holder is looked up whoever owns it: another caller's live run still holds."""
        start_from: Any = None
        holder = await self._claims.claim(_SCOPE, thread_id, run_id)
        for _ in range(_CLAIM_ROUNDS):
            if holder is None:
                return start_from
            run = await self._any_run(holder)
            if run is not None and not run.done:
                if strategy == "reject":
                    raise ThreadBusy(thread_id, holder)
                if strategy == "rollback":
                    start_from = await self._checkpoint_before(thread_id, holder)
                await self._make_way(run, strategy)
            holder = await self._claims.take_over(_SCOPE, thread_id, holder, run_id)
        raise ThreadBusy(thread_id, holder or "")

    async def _make_way(self, run: Run, strategy: Multitask) -> None:
        if strategy == "enqueue":
            # At most as long as a stream may last: the waiting client is a stream too.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._settings.max_stream_seconds
            while not run.done:
                if loop.time() > deadline:
                    raise ThreadBusy(run.thread_id or "", run.id)
                await run.settle(_ENQUEUE_POLL_SECONDS)
            return
        run.cancel(f"{strategy}: a new run started on its thread")
        await run.settle(_CANCEL_WAIT_SECONDS)
        if not run.done:  # never two writers on one thread
            raise ThreadBusy(run.thread_id or "", run.id)

    async def _checkpoint_before(self, thread_id: str, run_id: str) -> Any:
        """Where the thread was before ``run_id``: the parent of the oldest checkpoint it
        wrote (each checkpoint's metadata names the run that wrote it) — whatever branches
        earlier rollbacks left. None: it wrote none yet (the latest is where it began);
        ``_FRESH``: it began the thread."""
        config: Any = {"configurable": {"thread_id": thread_id}}
        oldest = None
        async for saved in self._saver.alist(config):
            if (saved.metadata or {}).get("tokenwire_run_id") == run_id:
                oldest = saved
        if oldest is None:
            return None
        parent = (oldest.parent_config or {}).get("configurable", {}).get("checkpoint_id")
        return parent or _FRESH


def _valid_thread_id(thread_id: Any) -> str:
    if not isinstance(thread_id, str) or not thread_id.strip() or len(thread_id) > 256:
        raise InvalidRequest(["thread_id: must be a non-empty string of at most 256 characters"])
    return thread_id


def _masked(route: Route, view: dict[str, Any]) -> dict[str, Any]:
    """A thread's values hold what its users, models and tools said — the input included:
    masked whenever the route masks anything."""
    masking = route.masking
    if masking is None:
        return view
    mask = masking.value
    return {**view, "values": mask(view["values"]), "interrupts": mask(view["interrupts"])}
