"""What the LangGraph API knows of threads beyond their checkpoints.

A tokenwire thread exists once a run checkpointed on it (its owner and route are in the
checkpoints' metadata). LangGraph's clients create a thread first (``POST /threads``) and
attach metadata to it: those records are kept here, in this process — a thread created and
never run is not seen by another replica or after a restart; once a run checkpointed on it,
its checkpoints say whose it is, everywhere. The streams each run was asked for are kept
here too, for a rejoin that names none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tokenwire.security.principal import current_principal

__all__ = ["Catalog", "ThreadRecord"]

_MAX_RUN_MODES = 10_000


@dataclass(slots=True)
class ThreadRecord:
    thread_id: str
    owner: str
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    metadata: dict[str, Any] = field(default_factory=dict)


class Catalog:
    def __init__(self) -> None:
        self._threads: dict[str, ThreadRecord] = {}
        #: run id → (stream modes, multitask strategy) it was started with.
        self._runs: dict[str, tuple[frozenset[str], str | None]] = {}

    def create(self, thread_id: str, metadata: dict[str, Any]) -> ThreadRecord:
        record = ThreadRecord(thread_id, current_principal.get().alias, metadata=metadata)
        self._threads[thread_id] = record
        return record

    def get(self, thread_id: str) -> ThreadRecord | None:
        """The record, if the caller may see it."""
        record = self._threads.get(thread_id)
        if record is None or not current_principal.get().owns(record.owner):
            return None
        return record

    def taken(self, thread_id: str) -> bool:
        """Whether anyone (the caller or not) created ``thread_id`` here."""
        return thread_id in self._threads

    def visible(self) -> list[ThreadRecord]:
        principal = current_principal.get()
        return [r for r in self._threads.values() if principal.owns(r.owner)]

    def forget(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)

    def run_started(self, run_id: str, modes: frozenset[str], multitask: str | None) -> None:
        if len(self._runs) >= _MAX_RUN_MODES:  # oldest first: dicts keep insertion order
            self._runs.pop(next(iter(self._runs)))
        self._runs[run_id] = (modes, multitask)

    def run_modes(self, run_id: str) -> frozenset[str] | None:
        found = self._runs.get(run_id)
        return found[0] if found is not None else None

    def run_multitask(self, run_id: str) -> str | None:
        found = self._runs.get(run_id)
        return found[1] if found is not None else None
