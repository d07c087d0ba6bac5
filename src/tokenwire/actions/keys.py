"""An action call's idempotency key: the same work redone gets the same key.

``HMAC-SHA256(secret, lineage, call, occurrence)`` where ``call`` is ``sha256(step, action,
canonical arguments)``: ``step`` is the LangGraph task the call runs in (``checkpoint_ns``:
a node resumed after ``interrupt()`` re-runs as the same task, a later turn of the thread
is another task), and ``occurrence`` counts identical calls within the step, so two
deliberate calls stay two.

The key is handed to systems of record (an ``Idempotency-Key`` header), so it must not
give the arguments away: unsalted, a low-entropy argument (an email, an order number) could
be found by hashing guesses. The secret is ``action_key_secret``; without it, one derived
from a key the deployment already keeps the same on every replica (``audit_input_key``,
else ``checkpoint_encryption_key``); without any, the key is plain ``sha256`` (warned once).
Replicas and restarts must agree on the secret, or the same work gets another key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import orjson

from tokenwire import plain_json
from tokenwire.config import Settings

__all__ = ["call_identity", "idempotency_key", "key_secret", "step_of"]

log = logging.getLogger("tokenwire.actions")

#: What a secret derived from another key is derived for (so it reveals nothing of it).
_PURPOSE = b"tokenwire @action idempotency keys"
#: Warned once per process: no secret, the keys are unsalted.
_warned: list[bool] = []


def step_of(checkpoint_ns: str, *, with_tasks: bool) -> str:
    """The LangGraph step a call runs in. ``checkpoint_ns`` is ``node:task_id`` per level,
    joined by ``|``; without ``with_tasks`` only the node names are kept (the task ids of
    a graph run anew are new — the occurrence count tells repeated nodes apart)."""
    if with_tasks:
        return checkpoint_ns
    return "|".join(level.partition(":")[0] for level in checkpoint_ns.split("|"))


def call_identity(step: str, action: str, args: Any) -> str:
    """What identifies a call within one run, before its occurrence is counted (never
    handed on: it only counts occurrences)."""
    body = plain_json.dumps([step, action, args], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def idempotency_key(lineage: str, call: str, occurrence: int, secret: bytes | None = None) -> str:
    message = f"{lineage}\x00{call}\x00{occurrence}".encode()
    if secret is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def key_secret(settings: Settings) -> bytes | None:
    """The secret the keys are made with (None: unsalted, warned once per process)."""
    own = settings.action_key_secret.get_secret_value()
    if own:
        return own.encode()
    for source in (settings.audit_input_key, settings.checkpoint_encryption_key):
        value = source.get_secret_value()
        if value:
            return hmac.new(value.encode(), _PURPOSE, hashlib.sha256).digest()
    if not _warned:
        _warned.append(True)
        log.warning(
            "no action_key_secret (nor audit_input_key or checkpoint_encryption_key) is set: "
            "@action idempotency keys are unsalted hashes of the call, which a system of "
            "record given them could reverse for low-entropy arguments; set "
            "TOKENWIRE_ACTION_KEY_SECRET, the same on every replica"
        )
    return None
