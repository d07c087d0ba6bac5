"""The chain rules on their own (no database)."""

from __future__ import annotations

import pytest

from tokenwire.audit import GENESIS_HASH, ChainCheck, Link, canonical_json, link_hash


def _chain(count: int) -> list[Link]:
    links, prev = [], GENESIS_HASH
    for seq in range(1, count + 1):
        body = canonical_json({"sequence": seq, "run_id": f"r{seq}"})
        links.append(Link(seq, prev, link_hash(prev, body), body, {"run_id": f"r{seq}"}))
        prev = links[-1].hash
    return links


def _check(links: list[Link], head: Link, anchor: str | None = None) -> ChainCheck:
    check = ChainCheck(
        base_sequence=0,
        base_hash=GENESIS_HASH,
        head_sequence=head.sequence,
        head_hash=head.hash,
        anchor=anchor,
    )
    for link in links:
        if not check.feed(link):
            break
    check.finish()
    return check


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": "é", "c": [1.5, None]}) == '{"a":"é","b":1,"c":[1.5,null]}'


def test_hash_covers_the_previous_hash() -> None:
    assert link_hash(GENESIS_HASH, "{}") != link_hash("1" * 64, "{}")


def test_an_intact_chain_and_its_anchor_pass() -> None:
    links = _chain(4)
    assert _check(links, links[-1], anchor=f"2:{links[1].hash}").ok
    assert _check(links, links[-1], anchor=links[3].hash.upper()).ok


def test_a_renumbered_body_fails() -> None:
    links = _chain(3)
    moved = Link(
        2,
        links[1].prev_hash,
        links[1].hash,
        links[1].body.replace('"sequence":2', '"sequence":9'),
        links[1].columns,
    )
    check = _check([links[0], moved, links[2]], links[-1])
    assert check.bad_sequence == 2 and "edited" in (check.problem or "")


def test_a_copied_column_that_differs_fails() -> None:
    links = _chain(2)
    edited = Link(1, links[0].prev_hash, links[0].hash, links[0].body, {"run_id": "other"})
    check = _check([edited, links[1]], links[-1])
    assert check.bad_sequence == 1 and "run_id" in (check.problem or "")


@pytest.mark.parametrize("anchor", ["", "abc", "1:" + "g" * 64])
def test_a_malformed_anchor_is_refused(anchor: str) -> None:
    with pytest.raises(ValueError, match="not a chain head"):
        _check([], _chain(1)[0], anchor=anchor)
