"""The admission gate: everything a start must pass before its run exists, as one
``async with``.

>>> async with gate.enter("chat", input, config, idempotency_key) as ticket:
...     if ticket.replay is None:
...         ticket.started(launch(ticket))
>>> run, created = ticket.outcome

In order: an ``Idempotency-Key`` this replica knows replays its run; with replicas sharing
runs, the key is claimed in Redis (``SET NX``, so the same key sent to two replicas starts
one run) or replays the run that holds it; then the caller's per-key limits admit the start
(:class:`~tokenwire.gateway.hooks.Admission`). A replay starts nothing, so it is never
refused by a limit. Whatever the block raises (a refusal, a cancelled client), the gate
gives back what the start held — its concurrency slot, its claim of the key — and a run
that started holds the slot until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tokenwire.cluster.replica import Cluster
from tokenwire.errors import IdempotencyConflict
from tokenwire.gateway.hooks import Admission
from tokenwire.runs.idempotency import (
    SharedClaims,
    check_fingerprint,
    fingerprint,
    normalized,
    scoped,
)
from tokenwire.runs.registry import RunRegistry
from tokenwire.runs.run import Run
from tokenwire.security.principal import current_principal
from tokenwire.security.slots import UNLIMITED
from tokenwire.telemetry.trace_context import TraceParent, incoming_trace

__all__ = ["AdmissionGate", "Ticket"]

#: Replacing a claim whose run never appeared, at most this many times before giving up.
_CLAIM_ATTEMPTS = 3
#: Pauses while waiting for a claimed run to appear (about 2 s in all).
_HOLDER_PATIENCE = (0.1, 0.3, 0.6, 1.0)

FindRun = Callable[[str], Awaitable[Run | None]]


@dataclass(slots=True)
class Ticket:
    """One start going through the gate. ``replay``: the run its idempotency key already
    names (start nothing); else the start reports its run with :meth:`started`."""

    #: The caller's key alias: the run's owner.
    owner: str
    #: The idempotency key, scoped to the caller (None: no key).
    key: str | None = None
    #: The request's fingerprint, for a key (the same key with another body conflicts).
    fingerprint: str | None = None
    #: One read of the OS's randomness for both ids: a version-4 UUID and a trace id.
    random: bytes = field(default_factory=lambda: os.urandom(32))
    replay: Run | None = None
    run: Run | None = None
    #: What the caller's metrics and cost are labelled with (``Principal.label``).
    label: str = "anonymous"
    #: The caller's span (the request's ``traceparent``): the run continues its trace.
    parent: TraceParent | None = None

    @property
    def run_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.random[:16], version=4)

    @property
    def trace_id(self) -> str:
        return self.random[16:].hex() if self.parent is None else self.parent.trace_id

    @property
    def parent_span_id(self) -> str | None:
        return None if self.parent is None else self.parent.span_id

    def started(self, run: Run) -> None:
        self.run = run

    @property
    def outcome(self) -> tuple[Run, bool]:
        """``(run, created)``."""
        if self.replay is not None:
            return self.replay, False
        if self.run is None:
            raise RuntimeError("the start went through the gate without starting a run")
        return self.run, True


class AdmissionGate:
    """``find_run``: a run of any replica by id (to replay a key another replica holds)."""

    def __init__(
        self,
        registry: RunRegistry,
        cluster: Cluster | None,
        admission: Admission | None,
        find_run: FindRun,
    ) -> None:
        self._registry = registry
        self._cluster = cluster
        self._admission = admission
        self._find_run = find_run

    @contextlib.asynccontextmanager
    async def enter(
        self,
        route: str,
        input: Any,
        config: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> AsyncIterator[Ticket]:
        """Raises ``IdempotencyConflict`` (the key came with another request) or what the
        admission raises (``RateLimited``) before yielding."""
        ticket = self._ticket(route, input, config, idempotency_key)
        release = None if ticket.replay is not None else await self._claim(route, ticket)
        if ticket.replay is not None:
            yield ticket
            return
        slot = UNLIMITED
        try:
            if self._admission is not None:
                slot = await self._admission.admit(ticket.owner)
            # The same key may have started a run here while this start waited.
            ticket.replay = self._replay(route, ticket)
            yield ticket
        except BaseException:  # refused (or cancelled) before it started: all is free
            slot.release()
            if release is not None:
                await release()
            raise
        if ticket.run is not None:  # the run's until it ends
            slot.hold(ticket.run)
            return
        slot.release()
        if release is not None:
            await release()

    def _ticket(
        self, route: str, input: Any, config: dict[str, Any] | None, idempotency_key: str | None
    ) -> Ticket:
        principal = current_principal.get()
        owner = principal.alias
        key = normalized(idempotency_key)
        parent = incoming_trace.get()
        if key is None:
            return Ticket(owner, label=principal.label, parent=parent)
        ticket = Ticket(
            owner,
            scoped(key, owner),
            fingerprint(input, config),
            label=principal.label,
            parent=parent,
        )
        ticket.replay = self._replay(route, ticket)
        return ticket

    def _replay(self, route: str, ticket: Ticket) -> Run | None:
        """This replica's run for the ticket's key, if any — raising
        ``IdempotencyConflict`` when the key came with another request."""
        if ticket.key is None:
            return None
        existing = self._registry.by_idempotency_key(route, ticket.key)
        if existing is not None:
            check_fingerprint(existing, ticket.fingerprint)
        return existing

    async def _claim(self, route: str, ticket: Ticket) -> Callable[[], Awaitable[None]] | None:
        """With replicas: claim the ticket's key for its run-to-be, or set ``replay`` to the
        run that holds it. Returns how to give the claim back if no run starts."""
        if ticket.key is None or self._cluster is None:
            return None
        claims, run_id = self._cluster.claims, ticket.run_uuid.hex
        existing = await self._claim_shared(claims, route, ticket.key, run_id)
        if existing is not None:
            check_fingerprint(existing, ticket.fingerprint)
            ticket.replay = existing
            return None
        return functools.partial(claims.release, route, ticket.key, run_id)

    async def _claim_shared(
        self, claims: SharedClaims, route: str, key: str, run_id: str
    ) -> Run | None:
        """Claim ``key`` for ``run_id``: None once it is ours, or the run that holds it. A
        holder that never shows up as a run (its replica died before starting it) is
        replaced — atomically, so of two replicas replacing it only one wins."""
        holder = await claims.claim(route, key, run_id)
        for _ in range(_CLAIM_ATTEMPTS):
            if holder is None:
                return None
            for pause in _HOLDER_PATIENCE:  # its run may still be on its way to Redis
                existing = await self._find_run(holder)
                if existing is not None:
                    return existing
                await asyncio.sleep(pause)
            holder = await claims.take_over(route, key, holder, run_id)
        raise IdempotencyConflict("Idempotency-Key is held by a run that is still starting; retry")
