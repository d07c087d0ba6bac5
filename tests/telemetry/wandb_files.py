"""What a wandb run wrote locally (``WANDB_MODE=offline``), read back.

A run directory holds ``run-<id>.wandb`` — wandb's transaction log, in LevelDB's log
format (a 7-byte ``:W&B`` header, then 32 KiB blocks of records, each with a 7-byte header:
CRC, length, type — full, or the first, a middle or the last piece of one), each record a
``wandb.proto.wandb_internal_pb2.Record`` — and ``files/media/table/<key>_<n>_<hash>
.table.json``, one per increment of an incremental table. wandb ships no reader of its
own for the log any more, so this is one: history steps and the summary, as logged.

``run.finish()`` returns once wandb's service has the run's exit, but the service writes
the log through a buffer of its own: :func:`read_finished_run` waits until the log ends
with the exit record (the last one written, so everything before it is there too).
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

from tokenwire.testing import poll_until

__all__ = ["WandbRunFiles", "read_finished_run", "read_run"]

_BLOCK = 32 * 1024
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass(frozen=True)
class WandbRunFiles:
    history: list[dict[str, Any]]
    summary: dict[str, Any]
    directory: Path

    def table(self, key: str) -> tuple[list[str], list[list[Any]]]:
        """An incremental table's columns and every row logged, increments in order."""
        pattern = re.compile(rf"{re.escape(key)}_(\d+)_\w+\.table\.json")
        found = [
            (int(match.group(1)), path)
            for path in (self.directory / "files" / "media" / "table").glob("*.table.json")
            if (match := pattern.fullmatch(path.name))
        ]
        columns: list[str] = []
        rows: list[list[Any]] = []
        for _, path in sorted(found):
            data = json.loads(path.read_text())
            columns = data["columns"]
            rows += data["data"]
        return columns, rows


def read_finished_run(directory: Path) -> WandbRunFiles:
    """The run in ``directory``, once wandb has written all of it (polls 20 s)."""
    return poll_until(lambda: read_run(directory, finished=True), timeout=20, interval=0.05)


def read_run(directory: Path, *, finished: bool = False) -> WandbRunFiles | None:
    """The run in ``directory`` (None when ``finished`` and its exit is not written yet)."""
    [log] = directory.glob("run-*.wandb")
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    exited = False
    for raw in _records(log.read_bytes()):
        record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]  # generated
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        exited = exited or kind == "exit"
        if kind == "history":
            step: dict[str, Any] = {}
            for item in record.history.item:
                _put(step, _path(item), json.loads(item.value_json))
            history.append(step)
        elif kind == "summary":
            for item in record.summary.update:
                _put(summary, _path(item), json.loads(item.value_json))
    return None if finished and not exited else WandbRunFiles(history, summary, directory)


def _path(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    *parents, last = path
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def _records(data: bytes) -> list[bytes]:
    if data[:4] != b":W&B":
        raise ValueError("not a wandb transaction log")
    records: list[bytes] = []
    pending = b""
    position = _HEADER
    while position + _HEADER <= len(data):
        left = _BLOCK - position % _BLOCK
        if left < _HEADER:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + _HEADER])
        position += _HEADER
        if position + length > len(data):
            break  # a record still being written
        chunk = data[position : position + length]
        position += length
        if kind == _FULL:
            records.append(chunk)
        elif kind == _FIRST:
            pending = chunk
        elif kind == _MIDDLE:
            pending += chunk
        elif kind == _LAST:
            records.append(pending + chunk)
            pending = b""
    return records
