"""An action call's idempotency key: the same work redone gets the same key.

``sha256(lineage, step, action, canonical arguments, occurrence)``, where ``step`` is the
LangGraph task the call runs in (``checkpoint_ns``: a node resumed after ``interrupt()``
re-runs as the same task, a later turn of the thread is another task), and ``occurrence``
counts identical calls within the step, so two deliberate calls stay two.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from tokenwire import plain_json

__all__ = ["call_identity", "idempotency_key", "step_of"]


def step_of(checkpoint_ns: str, *, with_tasks: bool) -> str:
    """The LangGraph step a call runs in. ``checkpoint_ns`` is ``node:task_id`` per level,
    joined by ``|``; without ``with_tasks`` only the node names are kept (the task ids of
    a graph run anew are new — the occurrence count tells repeated nodes apart)."""
    if with_tasks:
        return checkpoint_ns
    return "|".join(level.partition(":")[0] for level in checkpoint_ns.split("|"))


def call_identity(step: str, action: str, args: Any) -> str:
    """What identifies a call within one run, before its occurrence is counted."""
    body = plain_json.dumps([step, action, args], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def idempotency_key(lineage: str, call: str, occurrence: int) -> str:
    return hashlib.sha256(f"{lineage}\x00{call}\x00{occurrence}".encode()).hexdigest()
