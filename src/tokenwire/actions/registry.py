"""Actions by name: what a replica that did not make a deferred call runs to commit it.

Each ``@action`` registers its function under its action name when it is decorated, so a
call recorded ``intended`` in a shared ledger can be executed by whichever replica settles
it, from its name and its arguments alone.

The rule for one name claimed twice: a function defined at module level owns its name —
another module-level function claiming it raises :class:`ActionNameTaken` (two tools that
would share one ledger history). A function defined inside another (a factory, a test)
replaces what the name held: the latest decoration is the one a settling replica runs;
redecorating the same function (a reload) replaces it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ActionNameTaken", "Registered", "lookup", "register"]


class ActionNameTaken(ValueError):
    """Two different module-level functions claim one action name."""

    def __init__(self, name: str, held: str, claimed: str) -> None:
        super().__init__(
            f"action name {name!r} is taken by {held}; {claimed} claims it too: "
            "give one of them @action(name=...)"
        )
        self.name = name


@dataclass(frozen=True, slots=True)
class Registered:
    name: str
    #: The undecorated function (sync or async), called with the call's own arguments.
    fn: Callable[..., Any]

    @property
    def origin(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', '?')}"

    @property
    def module_level(self) -> bool:
        return "<locals>" not in getattr(self.fn, "__qualname__", "<locals>")


_REGISTRY: dict[str, Registered] = {}
_LOCK = threading.Lock()


def register(name: str, fn: Callable[..., Any]) -> Registered:
    """Register ``fn`` as the action ``name`` (see the module's rule for a name taken)."""
    claimed = Registered(name, fn)
    with _LOCK:
        held = _REGISTRY.get(name)
        if held is not None and _conflict(held, claimed):
            raise ActionNameTaken(name, held.origin, claimed.origin)
        _REGISTRY[name] = claimed
    return claimed


def lookup(name: str) -> Registered | None:
    """The function registered as ``name`` in this process (None: none is)."""
    with _LOCK:
        return _REGISTRY.get(name)


def _conflict(held: Registered, claimed: Registered) -> bool:
    if held.fn is claimed.fn or held.origin == claimed.origin:
        return False
    return held.module_level and claimed.module_level
