"""What the audit trail records about a finished run.

Built in the audit writer task, never on the token path: it reads the run's settled
``summary`` (the ``run.end`` data) and scans its closed event log once for the model,
every ``guardrail`` action and every ``custom`` event: custom events are delivered content,
so the record keeps them as they went out (masked already, when the route masks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenwire.events import EventType
from tokenwire.pipeline.audit_input import AuditedInput
from tokenwire.plain_json import sanitized
from tokenwire.runs.run import Run

__all__ = ["audit_entry", "delivered_output", "identity", "minimal_entry", "plain_entry"]

_END = EventType.RUN_END.value
_START = EventType.RUN_START.value
_GUARDRAIL = EventType.GUARDRAIL.value
_CUSTOM = EventType.CUSTOM.value
_ACTIONS = frozenset(
    {
        EventType.ACTION_COMMITTED,
        EventType.ACTION_FAILED,
        EventType.ACTION_DISCARDED,
        EventType.ACTION_SKIPPED_SHADOW,
    }
)


async def audit_entry(run: Run, input: Any) -> dict[str, Any]:
    """The record's fields (the store adds ``sequence``, ``recorded_at`` and the hashes),
    every one plain JSON. A field that had to be changed to be stored (a lone surrogate
    escaped, a huge integer as text, nesting cut short) is named in ``sanitized``: the
    record says it is not byte-exact there, and the chain never fails to hash it.

    ``input``: the request input, or what a masking route keeps of it (``AuditedInput``)."""
    kept: dict[str, Any] = {}
    if isinstance(input, AuditedInput):
        input, kept = input.value, input.fields()
    model, guardrails, custom, actions = await _scan(run)
    summary = run.summary
    usage = summary.get("usage") or {}
    return plain_entry(
        {
            **identity(run),
            "model": model,
            "error": summary.get("error"),
            "finish_reason": summary.get("finish_reason"),
            "fallback_used": summary.get("fallback_used"),
            "input": input,
            "output": delivered_output(run),
            "usage": usage,
            "cost_usd": usage.get("cost_usd"),
            "timings": summary.get("timings"),
            "guardrail_actions": guardrails,
            "custom_events": custom,
            # Deferred actions settled at the run's end: what was committed, and its result.
            **({"actions": actions} if actions else {}),
            **kept,
        }
    )


def plain_entry(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` as plain JSON, with ``sanitized`` listing the fields that were changed."""
    entry: dict[str, Any] = {}
    changed = []
    for name, value in fields.items():
        entry[name], altered = sanitized(value)
        if altered:
            changed.append(name)
    if changed:
        entry["sanitized"] = changed
    return entry


#: What is always known of a run, and kept when nothing else of its record can be.
_IDENTITY = ("run_id", "route", "key_alias", "trace_id", "status", "created_at", "ended_at")


def identity(run: Run) -> dict[str, Any]:
    key_alias = run.metadata.get("key_alias")
    return {
        "run_id": run.id,
        "route": run.route,
        "key_alias": None if key_alias is None else str(key_alias),
        "trace_id": run.trace_id,
        "status": run.status.value,
        "created_at": run.created_at,
        "ended_at": run.ended_at,
        "cohort": run.cohort,
        "variant": run.variant,
    }


def minimal_entry(known: Mapping[str, Any], problem: str) -> dict[str, Any]:
    """The identity fields of ``known`` (a run's :func:`identity`, or a record the store
    refused), flagged ``unstorable``: the run keeps its one place in the chain even when
    its full record cannot be built or stored."""
    kept = {name: _printable(known.get(name)) for name in _IDENTITY}
    return plain_entry({**kept, "unstorable": _printable(problem[:500])})


def _printable(value: Any) -> Any:
    """Control characters escaped: PostgreSQL's text columns refuse NUL, for one."""
    if isinstance(value, str) and not value.isprintable():
        return value.encode("unicode_escape").decode("ascii")
    return value


def delivered_output(run: Run) -> Any:
    """The output exactly as the client saw it (:meth:`Run.delivered_output`)."""
    return run.delivered_output()


_Scanned = tuple[str | None, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


async def _scan(run: Run) -> _Scanned:
    """The model, the guardrail actions and the custom events, each with its ``seq``."""
    if not run.log.closed:
        # Only a run whose task never started lacks run.end; reading its log would wait forever.
        return None, [], [], []
    model: str | None = None
    guardrails: list[dict[str, Any]] = []
    custom: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    async for batch in run.log.read(0):
        for event in batch:
            if event.type == _GUARDRAIL:
                guardrails.append({"seq": event.seq, **event.data})
            elif event.type == _CUSTOM:
                custom.append({"seq": event.seq, **event.data})
            elif event.type in _ACTIONS:
                actions.append({"seq": event.seq, "event": event.type, **event.data})
            elif event.type == _START:
                model = event.data.get("model")
            elif event.type == _END and model is None:
                # A graph's or an agent's models are named once they ran.
                ran = event.data.get("models") or [None]
                model = ran[0]
    if run.recorder is not None:
        actions += run.recorder.unlogged_actions
    return model, guardrails, custom, actions
