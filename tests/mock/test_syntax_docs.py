"""The mock's syntax as documented (``--help`` and docs/mock.md) names all it parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenwire.mock.profile import _HEADERS, _SETTINGS
from tokenwire.mock.syntax import MODEL_SYNTAX

MOCK_DOC = (Path(__file__).parents[2] / "docs" / "mock.md").read_text()


@pytest.mark.parametrize("text", [MODEL_SYNTAX, MOCK_DOC], ids=["help", "docs/mock.md"])
def test_every_setting_header_and_fault_is_documented(text: str) -> None:
    for setting in _SETTINGS:
        assert f"{setting}=" in text
    for word in [*_HEADERS, "x-mock-fault-key", "drop:N", "stall:N:S", "malformed:N", "xK"]:
        assert word in text
    for route in ("/mock/requests", "/mock/stats", "/mock/faults"):
        assert route in text
