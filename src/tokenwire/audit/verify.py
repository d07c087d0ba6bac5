"""Verifying the stored chain, and exporting it as JSONL."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from tokenwire.audit.chain import ChainCheck
from tokenwire.audit.store import AuditStore

__all__ = ["Verification", "export_jsonl", "verify"]


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    #: Records that passed before the first problem (all of them when ``ok``).
    checked: int
    #: The recorded chain head as ``SEQUENCE:HASH``: keep it outside the database and pass
    #: it back as ``expect_head`` to catch a deleted tail or a rewritten chain.
    head: str
    #: The retention checkpoint: records up to here were pruned on purpose.
    base_sequence: int
    bad_sequence: int | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def verify(store: AuditStore, *, expect_head: str | None = None) -> Verification:
    """Walk the whole chain in one consistent snapshot; name the first bad sequence."""
    async with store.snapshot() as snapshot:
        state = snapshot.state
        check = ChainCheck(
            base_sequence=state.base_sequence,
            base_hash=state.base_hash,
            head_sequence=state.head_sequence,
            head_hash=state.head_hash,
            anchor=expect_head,
        )
        async for link in snapshot.links():
            if not check.feed(link):
                break
        check.finish()
    return Verification(
        ok=check.ok,
        checked=check.checked,
        head=state.head,
        base_sequence=state.base_sequence,
        bad_sequence=check.bad_sequence,
        problem=check.problem,
    )


async def export_jsonl(store: AuditStore, path: Path) -> tuple[int, str]:
    """Write every record, oldest first, one JSON object per line; returns (count, head).

    Each line is the hashed record plus ``prev_hash`` and ``hash``: dropping those two keys
    and re-serialising canonically gives back the hashed body, so an export can be checked
    without the database.
    """
    count = 0
    async with store.snapshot() as snapshot:
        with path.open("wb") as out:
            async for link in snapshot.links():
                record = orjson.loads(link.body)
                record["prev_hash"], record["hash"] = link.prev_hash, link.hash
                out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                count += 1
        return count, snapshot.state.head
