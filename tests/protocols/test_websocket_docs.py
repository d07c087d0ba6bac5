"""docs/websocket.md names every request the socket takes and every refusal it sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire import errors
from tokenwire.protocols.websocket import OPS

DOC = (Path(__file__).parents[2] / "docs" / "websocket.md").read_text()


def _refusal_codes() -> set[str]:
    found: set[str] = set()
    todo: list[type[errors.RunRefused]] = [errors.RunRefused]
    while todo:
        kind = todo.pop()
        found.add(kind.code)
        todo.extend(kind.__subclasses__())
    return found - {errors.RunRefused.code}


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_request_has_its_row(op: str) -> None:
    assert f"| `{op}` |" in DOC


@pytest.mark.parametrize("code", sorted(_refusal_codes() | {"invalid_message", "unknown_run"}))
def test_every_nack_code_is_explained(code: str) -> None:
    assert f"`{code}`" in DOC
