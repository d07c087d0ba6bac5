"""A JSONL sink: one line per finished run, appended off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import orjson

from tokenwire.telemetry.record import RunRecord

__all__ = ["JsonlExporter"]


class JsonlExporter:
    name = "jsonl"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    async def export(self, records: Sequence[RunRecord]) -> None:
        lines = b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records)
        await asyncio.to_thread(self._append, lines)

    def _append(self, lines: bytes) -> None:
        with self.path.open("ab") as fh:
            fh.write(lines)

    def close(self) -> None:
        return None
