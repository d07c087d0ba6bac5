"""The ledger as a route masking tool steps sees it: nothing recorded in clear, the real
result replayed.

The ledger lives in the audit database and is listed by ``GET /v1/actions``, so it holds
what may be shown: the route's one masking policy (``Masking``, the ``tool_io`` surface)
masks an entry's arguments (the decorator does), its result and its error. A replay must
still hand the agent the result the system of record gave — after a restart or on another
replica too, when all that is left is the row — so a result that masking changed is also
kept **sealed**: encrypted with ``audit_input_key`` (Fernet, the key that already seals raw
inputs in the audit records), and opened again only to be replayed. Without that key a
replay can only return what was recorded: the masked result (warned once per action).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from tokenwire.actions.ledger import ActionEntry, ActionStatus, Ledger

__all__ = ["ProtectedLedger", "Seal"]

log = logging.getLogger("tokenwire.actions")

#: Warned once per process: results are replayed masked (no key to seal them).
_warned: list[bool] = []


class Seal(Protocol):
    """Encrypts a value and opens it again (``tokenwire.pipeline.audit_input.InputSeal``)."""

    def seal(self, value: Any) -> str: ...

    def open(self, sealed: str) -> Any: ...


class ProtectedLedger:
    """``inner`` for one run of a route masking tool steps with ``mask``; ``seal`` keeps
    the raw results a replay returns (None: replays return them masked)."""

    def __init__(self, inner: Ledger, mask: Callable[[Any], Any], seal: Seal | None) -> None:
        self.inner = inner
        self._mask = mask
        self._seal = seal

    async def begin(self, entry: ActionEntry) -> ActionEntry | None:
        return self._opened(await self.inner.begin(entry))

    async def get(self, key: str) -> ActionEntry | None:
        return self._opened(await self.inner.get(key))

    async def finish(
        self,
        key: str,
        status: ActionStatus,
        result: Any = None,
        error: str | None = None,
        run_id: str | None = None,
        *,
        sealed: str | None = None,
    ) -> None:
        shown = self._mask(result)
        if shown != result:
            sealed = self._sealed(result)
        masked_error = None if error is None else str(self._mask(error))
        await self.inner.finish(key, status, shown, masked_error, run_id, sealed=sealed)

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
        return await self.inner.entries(
            thread_id=thread_id, run_id=run_id, status=status, limit=limit
        )

    async def expire(self, before: float) -> int:
        return await self.inner.expire(before)

    # A run's view: the gateway sets up and closes the ledger it wraps.
    async def setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _sealed(self, result: Any) -> str | None:
        if self._seal is not None:
            return self._seal.seal(result)
        if not _warned:
            _warned.append(True)
            log.warning(
                "an @action result is recorded masked and no audit_input_key is set to "
                "seal it: replays of masked results return them masked"
            )
        return None

    def _opened(self, entry: ActionEntry | None) -> ActionEntry | None:
        """``entry`` with its raw result, for a replay (when it was sealed)."""
        if entry is None or entry.sealed is None:
            return entry
        if self._seal is None:
            log.error("action %s: its result is sealed and no key is set", entry.key)
            return entry
        try:
            return replace(entry, result=self._seal.open(entry.sealed))
        except Exception as exc:  # another key (rotated), or altered: replay what shows
            log.error("action %s: its sealed result does not open (%s)", entry.key, type(exc))
            return entry
