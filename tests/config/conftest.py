"""Every test here starts from an environment without ``TOKENWIRE_*`` settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tokenwire.config.environment import PREFIX, TEST_PREFIX

WriteToml = Callable[[str], Path]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(PREFIX) and not name.upper().startswith(TEST_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture
def toml(tmp_path: Path) -> WriteToml:
    """Write ``tokenwire.toml`` with the given text; its path."""

    def write(text: str) -> Path:
        path = tmp_path / "tokenwire.toml"
        path.write_text(text)
        return path

    return write
