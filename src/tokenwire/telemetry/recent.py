"""The most recent run records, kept in memory for live views (dashboard, console)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from tokenwire.telemetry.record import RunRecord

__all__ = ["RecentRuns"]


class RecentRuns:
    """An exporter that keeps the last ``size`` records; read ``records`` for a snapshot."""

    name = "recent"
    #: A deque append, read by the loop: stays on the loop (no iteration races).
    in_loop = True

    def __init__(self, size: int = 2000) -> None:
        self._records: deque[RunRecord] = deque(maxlen=size)
        #: Increases with every record, so pollers can tell whether anything changed.
        self.version = 0

    def export(self, records: Sequence[RunRecord]) -> None:
        self._records.extend(records)
        self.version += len(records)

    def records(self, since_epoch: float | None = None) -> list[RunRecord]:
        if since_epoch is None:
            return list(self._records)
        return [r for r in self._records if r.started_at + r.duration_s >= since_epoch]

    def close(self) -> None:
        return None
