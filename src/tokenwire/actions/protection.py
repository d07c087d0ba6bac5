"""The ledger as a route masking tool steps sees it: nothing recorded in clear, the real
result replayed.

The ledger lives in the audit database and is listed by ``GET /v1/actions``, so it holds
what may be shown: the route's one masking policy (``Masking``, the ``tool_io`` surface)
masks an entry's arguments (the decorator does), its result and its error. A replay must
still hand the agent the result the system of record gave — after a restart or on another
replica too, when all that is left is the row — so a result that masking changed is also
kept **sealed**: encrypted with ``audit_input_key`` (Fernet, the key that already seals raw
inputs in the audit records), and opened again only to be replayed. Without that key the
result is sealed with a key the gateway made at start and never wrote down
(:func:`gateway_seal`): a replay in this gateway (a resume, a retry, a fallback, a
concurrent duplicate) still gets the real result;
after a restart or on another replica the seal does not open, and a replay can only return
what was recorded — the masked result (warned once).

A deferred call (``commit = "after_validation"``) waiting in the ledger ``intended`` also
keeps the arguments it will execute with (``commit_args``), since the run that commits it
may be on another replica; where masking changes them they are sealed the same way, so
without ``audit_input_key`` only this gateway can commit a paused run's calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from tokenwire.actions.ledger import ActionEntry, ActionStatus, Ledger
from tokenwire.actions.replay import restored
from tokenwire.langchain.output import to_jsonable
from tokenwire.pipeline.audit_input import InputSeal

__all__ = ["ProtectedLedger", "Seal", "gateway_seal", "is_sealed"]

log = logging.getLogger("tokenwire.actions")

#: Warned once per process: results sealed with a gateway's own key (no
#: ``audit_input_key``) replay masked after a restart.
_warned: list[bool] = []


class Seal(Protocol):
    """Encrypts a value and opens it again (``tokenwire.pipeline.audit_input.InputSeal``)."""

    def seal(self, value: Any) -> str: ...

    def open(self, sealed: str) -> Any: ...


class ProtectedLedger:
    """``inner`` for one run of a route masking tool steps with ``mask``; ``seal`` keeps
    the raw results a replay returns — ``shared``: with ``audit_input_key``, which every
    replica and restart has, else the gateway's own (:func:`gateway_seal`)."""

    def __init__(
        self, inner: Ledger, mask: Callable[[Any], Any], seal: Seal, *, shared: bool
    ) -> None:
        self.inner = inner
        self._mask = mask
        self._seal = seal
        self._shared = shared

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        existing = await self.inner.begin(entry)
        return None if existing is None else self._opened(existing)

    async def get(self, key: str) -> ActionEntry | None:
        found = await self.inner.get(key)
        return None if found is None else self._opened(found)

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
        commit_args: Any = None,
    ) -> None:
        shown = self._mask(_readable(result))
        if shown != result:
            sealed = self._sealed(result)
        masked_error = None if error is None else str(self._mask(error))
        if commit_args is not None and self._mask(_readable(commit_args)) != commit_args:
            commit_args = {_SEALED: self._sealed(commit_args)}
        await self.inner.finish(
            key, status, shown, masked_error, run_id, sealed=sealed, commit_args=commit_args
        )

    async def retry(self, entry: ActionEntry, holder: ActionEntry | None = None) -> bool:
        return await self.inner.retry(entry, holder)

    async def release(self, key: str, run_id: str) -> None:
        await self.inner.release(key, run_id)

    async def entries(
        self,
        *,
        thread_id: str | None = None,
        run_id: str | None = None,
        status: ActionStatus | None = None,
        limit: int = 100,
    ) -> list[ActionEntry]:
        found = await self.inner.entries(
            thread_id=thread_id, run_id=run_id, status=status, limit=limit
        )
        return [self._opened(entry) for entry in found]

    async def expire(self, before: float) -> int:
        return await self.inner.expire(before)

    # A run's view: the gateway sets up and closes the ledger it wraps.
    async def setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _sealed(self, value: Any) -> str:
        if not self._shared and not _warned:
            _warned.append(True)
            log.warning(
                "no audit_input_key: masked @action results and deferred calls' arguments "
                "are sealed with the gateway's own key, so after a restart or on another "
                "replica a replay returns them masked and a paused run's deferred calls "
                "cannot commit"
            )
        return self._seal.seal(value)

    def _opened(self, entry: ActionEntry) -> ActionEntry:
        """``entry`` with its raw result, for a replay, and its raw arguments, for a
        commit (where they were sealed)."""
        if entry.sealed is not None:
            result = self._open(entry, entry.sealed, "result", "replayed as recorded, masked")
            if result is not _SHUT:
                entry = replace(entry, result=result)
        if is_sealed(entry.commit_args):
            args = self._open(entry, entry.commit_args[_SEALED], "arguments", "left sealed")
            if args is not _SHUT:
                entry = replace(entry, commit_args=args)
        return entry

    def _open(self, entry: ActionEntry, sealed: str, what: str, then: str) -> Any:
        try:
            return self._seal.open(sealed)
        except Exception as exc:  # another gateway's own key, a rotated key, or altered
            log.warning(
                "action %s: its sealed %s cannot be opened here (%s): %s",
                entry.key,
                what,
                type(exc).__name__,
                then,
            )
            return _SHUT


#: The tag of sealed arguments in ``ActionEntry.commit_args``.
_SEALED = "$sealed"
#: What :meth:`ProtectedLedger._open` returns for a seal that does not open.
_SHUT = object()


def is_sealed(commit_args: Any) -> bool:
    """Whether a deferred call's arguments are still sealed (they did not open here)."""
    return isinstance(commit_args, dict) and set(commit_args) == {_SEALED}


def _readable(result: Any) -> Any:
    """A recorded result (:mod:`.replay`) as JSON that masking can read: an object kept in
    LangGraph's serialization is base64 — masking would pass its PII through unread."""
    return to_jsonable(restored(result))


def gateway_seal() -> InputSeal:
    """A seal under a fresh key, kept in memory only: a gateway's own, without
    ``audit_input_key``."""
    from cryptography.fernet import Fernet

    return InputSeal(Fernet.generate_key().decode())
