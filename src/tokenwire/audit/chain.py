"""The hash chain: how an audit record is serialised, linked and checked.

Each record is stored as ``body``, its canonical JSON (UTF-8, keys sorted, no whitespace —
orjson with ``OPT_SORT_KEYS``), together with ``prev_hash`` (the previous record's ``hash``;
64 zeros before the first record) and ``hash = sha256(prev_hash || body)`` in hex, where
``prev_hash`` is hashed as its 64 ASCII hex characters. The body carries the record's own
``sequence``, so renumbering a row breaks it too.

``ChainCheck`` walks the stored rows in sequence order and names the first one that does not
fit. It is pure (no database), so the rules are easy to test and to reimplement outside.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["GENESIS_HASH", "ChainCheck", "Link", "canonical_json", "link_hash", "parse_anchor"]

GENESIS_HASH = "0" * 64


def canonical_json(value: Mapping[str, Any]) -> str:
    """The one serialisation that is hashed; anything not JSON becomes its ``str``."""
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, option=option, default=str).decode()


def link_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """One stored row: the chained fields plus the columns copied out of the body for
    querying (each must equal the body's value, or the row was edited)."""

    sequence: int
    prev_hash: str
    hash: str
    body: str
    columns: Mapping[str, Any]


class ChainCheck:
    """Feed rows in ascending ``sequence``; the first problem found is kept.

    ``base_*`` is the retention checkpoint (the last pruned record; ``0``/genesis when
    nothing was pruned) and ``head_*`` the chain-head row written with every append.
    ``anchor`` is an operator's copy of an earlier head (``SEQ:HASH`` or ``HASH``): the
    chain must still contain it, which is what catches a truncated tail or a rewrite.
    """

    def __init__(
        self,
        *,
        base_sequence: int,
        base_hash: str,
        head_sequence: int,
        head_hash: str,
        anchor: str | None = None,
    ) -> None:
        self.base_sequence = base_sequence
        self.head_sequence = head_sequence
        self.head_hash = head_hash
        self.last_sequence = base_sequence
        self.last_hash = base_hash
        self.checked = 0
        self.bad_sequence: int | None = None
        self.problem: str | None = None
        self._anchor_sequence, self._anchor_hash = parse_anchor(anchor)
        self._anchor_found = anchor is None or base_hash == self._anchor_hash

    @property
    def ok(self) -> bool:
        return self.problem is None

    def feed(self, link: Link) -> bool:
        """Check one row; returns False once the chain is broken (stop feeding)."""
        if self.problem is not None:
            return False
        problem = self._problem(link)
        if problem is not None:
            return self._fail(*problem)
        self.checked += 1
        self.last_sequence, self.last_hash = link.sequence, link.hash
        if link.hash == self._anchor_hash:
            self._anchor_found = True
        return True

    def finish(self) -> bool:
        """After the last row: the chain must end exactly at the recorded head (and hold
        the anchor)."""
        if self.problem is not None:
            return False
        if self.last_sequence < self.head_sequence:
            return self._fail(
                self.last_sequence + 1,
                f"missing: the chain head is at {self.head_sequence} "
                "(records deleted from the tail)",
            )
        if self.last_hash != self.head_hash:
            return self._fail(
                self.head_sequence,
                "hash differs from the recorded chain head",
            )
        if not self._anchor_found:
            return self._fail(*self._anchor_problem())
        return True

    def _problem(self, link: Link) -> tuple[int, str] | None:
        seq, expected = link.sequence, self.last_sequence + 1
        if seq <= self.base_sequence:
            return seq, (
                f"lies before the retention checkpoint at {self.base_sequence} (inserted record)"
            )
        if seq > self.head_sequence:
            return seq, f"lies beyond the chain head at {self.head_sequence} (inserted record)"
        if seq != expected:
            return expected, "missing (deleted record)"
        if link.prev_hash != self.last_hash:
            return seq, (
                f"does not link to sequence {seq - 1}: a record was inserted, deleted or "
                "altered before it"
            )
        if link_hash(link.prev_hash, link.body) != link.hash:
            return seq, "content does not match its hash (edited record)"
        try:
            body = orjson.loads(link.body)
        except orjson.JSONDecodeError:
            return seq, "body is not JSON (edited record)"
        if body.get("sequence") != seq:
            return seq, f"body says sequence {body.get('sequence')} (renumbered; edited record)"
        for name, value in link.columns.items():
            if body.get(name) != value:
                return seq, f"column {name!r} differs from the hashed record (edited record)"
        return None

    def _anchor_problem(self) -> tuple[int, str]:
        seq = self._anchor_sequence
        if seq is not None and seq < self.base_sequence:
            return seq, (
                f"the anchor was pruned (retention checkpoint at {self.base_sequence}): "
                "it can no longer be checked"
            )
        if seq is not None and seq > self.last_sequence:
            return self.last_sequence + 1, (
                f"missing: the chain ends at {self.last_sequence}, before the anchor at {seq} "
                "(records deleted from the tail)"
            )
        return seq if seq is not None else self.last_sequence, (
            f"the anchor {self._anchor_hash} is not in the chain: records at or before it "
            "were rewritten, or the tail was deleted"
        )

    def _fail(self, sequence: int, problem: str) -> bool:
        self.bad_sequence, self.problem = sequence, problem
        return False


def parse_anchor(anchor: str | None) -> tuple[int | None, str | None]:
    """``SEQ:HASH`` or ``HASH`` → (sequence or None, lower-case hash); ValueError if neither."""
    if anchor is None:
        return None, None
    seq, _, digest = anchor.strip().rpartition(":")
    digest = digest.lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a chain head: {anchor!r} (expected SEQUENCE:HASH or HASH)")
    return (int(seq) if seq else None), digest
