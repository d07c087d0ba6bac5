"""Idempotent agent actions: a state-changing tool runs once per run lineage, whatever
retries, resumes and replays happen around it.

>>> from tokenwire.actions import action
>>> @action
... async def create_ticket(title: str) -> dict:
...     return await crm.post("/tickets", json={"title": title},
...                           headers={"Idempotency-Key": current_key()})

Inside a gateway run the call is keyed (:mod:`.keys`) and looked up in the action ledger
(:mod:`.ledger`): the first call executes and records its result, a repeat returns the
recorded result without executing. Outside a gateway run the decorator does nothing.
"""

from tokenwire.actions.decorator import action, current_key
from tokenwire.actions.ledger import ActionEntry, Ledger, MemoryLedger
from tokenwire.actions.scope import ActionScope, action_scope

__all__ = [
    "ActionEntry",
    "ActionScope",
    "Ledger",
    "MemoryLedger",
    "action",
    "action_scope",
    "current_key",
]
