"""Approvals a live run waits on: ``@action(requires_approval=True)`` outside a graph
that checkpoints, where there is no ``interrupt()`` to pause at.

The action's question streams as ``approval.required``; ``POST /v1/runs/{id}/approvals``
(:meth:`LiveApprovals.decide`) answers it with the decisions a thread's approvals take.
No answer within ``approval_timeout_seconds`` is a rejection ("the approval timed out").
The questions live in the replica running the run: that is where its task waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from tokenwire.langchain.approvals import DECISIONS, Approval, resume_value

__all__ = ["ENDED", "EXPIRED", "LiveApprovals"]

EXPIRED = {"type": "reject", "message": "the approval timed out"}
#: The answer to a question still open when its run ends (cancelled, failed, shut down).
ENDED = {"type": "reject", "message": "the run ended before a decision"}


class LiveApprovals:
    def __init__(
        self,
        report: Callable[[dict[str, Any]], None],
        timeout: float,
        mask: Callable[[Any], Any] | None = None,
    ) -> None:
        #: Appends the ``approval.required`` event (the run's recorder, which masks it).
        self._report = report
        self._timeout = timeout
        #: The route's masking of tool steps: what ``pending`` shows (a run's snapshot).
        self._mask = mask
        self._open: dict[str, tuple[Approval, asyncio.Future[dict[str, Any]]]] = {}

    @property
    def pending(self) -> list[dict[str, Any]]:
        """The open questions, masked as their ``approval.required`` events are."""
        shown = [approval.data() for approval, _ in self._open.values()]
        mask = self._mask
        if mask is None:
            return shown
        return [
            {**q, "args": mask(q["args"]), "description": mask(q["description"])} for q in shown
        ]

    async def ask(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Wait for the decision on one call (a ``tool_approval`` request)."""
        call_id = str(request["tool_call_id"])
        approval = Approval(
            call_id=call_id,
            interrupt_id=call_id,
            name=str(request.get("name", "")),
            args=request.get("args"),
            description=str(request.get("description", "")),
            allowed_decisions=DECISIONS,
            mode="per_call",
        )
        decided = asyncio.get_running_loop().create_future()
        self._open[call_id] = (approval, decided)
        try:
            self._report(approval.data())
            async with asyncio.timeout(self._timeout or None):
                decision: dict[str, Any] = await decided
                return decision
        except TimeoutError:
            return dict(EXPIRED)
        finally:
            self._open.pop(call_id, None)

    def close(self) -> None:
        """The run has ended: every question still open is answered :data:`ENDED`."""
        for _, decided in list(self._open.values()):
            if not decided.done():
                decided.set_result(dict(ENDED))

    def decide(self, decisions: Any) -> None:
        """Answer the calls ``decisions`` name (``[{call_id, type, args?, name?,
        message?}]``). Raises ``ValueError`` naming what is wrong — an unknown call, a
        call decided twice, a decision of the wrong shape — and then answers none."""
        if not isinstance(decisions, list) or not decisions:
            raise ValueError("decisions: must be a non-empty list")
        named = {str(d.get("call_id")) for d in decisions if isinstance(d, Mapping)}
        asked = [approval for approval, _ in self._open.values() if approval.call_id in named]
        resume = resume_value(asked or [_NONE], decisions)
        for call_id, decision in resume.items():
            _, decided = self._open[call_id]
            if not decided.done():
                decided.set_result(decision)


#: Stands for "nothing asked" so :func:`resume_value` names the unknown call.
_NONE = Approval("", "", "", None, "", (), "per_call")
