"""A JSONL sink: one line per finished run, appended on the pipeline's export thread."""

from __future__ import annotations

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

    def export(self, records: Sequence[RunRecord]) -> None:
        lines = b"".join(orjson.dumps(r.to_json()) + b"\n" for r in records)
        with self.path.open("ab") as fh:
            fh.write(lines)

    def close(self) -> None:
        return None
