"""The approval step of one ``@action(requires_approval=True)`` call: ask, then go on as
the reviewer decided (:mod:`.approval` says what the question and the decisions are).

The call has claimed its key before it asks; while the question is open the claim is let
go if the asking ends otherwise than with an answer (the graph paused at ``interrupt()``,
the run cancelled), and a call that is not approved lets it go too, so an approved call
of the same work can run later.
"""

from __future__ import annotations

from typing import Any

from tokenwire.actions.approval import (
    Verdict,
    approval_request,
    in_checkpointed_graph,
    pause_for,
    verdict,
)
from tokenwire.actions.call import Call

__all__ = ["decision", "decision_sync", "declined"]


async def decision(call: Call, description: str) -> Verdict:
    """Ask a human about ``call``: by pausing the graph, or within the live run."""
    try:
        if in_checkpointed_graph(call.config):
            answer = pause_for(_question(call, description))
        else:
            answer = await _ask_live(call, _question(call, description))
    except BaseException:
        await call.release()
        raise
    return verdict(call.entry.action, answer)


def decision_sync(call: Call, description: str) -> Verdict:
    """:func:`decision` from the worker thread a sync action runs in."""
    try:
        if in_checkpointed_graph(call.config):
            answer = pause_for(_question(call, description))
        else:
            answer = call.on_loop(_ask_live(call, _question(call, description)))
    except BaseException:
        call.on_loop(call.release())
        raise
    return verdict(call.entry.action, answer)


async def declined(call: Call, decided: Verdict) -> Any:
    """The reviewer said no (or answered instead): the call does not run, and the key
    is free for a call that is approved."""
    await call.release()
    call.scope.outcomes[(call.entry.action, "rejected")] += 1
    return decided.answer


def _question(call: Call, description: str) -> dict[str, Any]:
    return approval_request(call.key, call.entry.action, call.args, description)


async def _ask_live(call: Call, question: dict[str, Any]) -> Any:
    ask = call.scope.ask
    return None if ask is None else await ask(question)  # no one to ask: not approved
