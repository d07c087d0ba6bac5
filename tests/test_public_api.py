"""The public API: ``tokenwire.__all__``, loaded lazily, and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tokenwire


def test_all_is_sorted_and_every_name_resolves_to_its_definition() -> None:
    assert tokenwire.__all__ == sorted(tokenwire.__all__)
    for name in tokenwire.__all__:
        value = getattr(tokenwire, name)
        # Re-exported where it is defined, not through a module that imported it.
        assert value.__module__ == tokenwire._EXPORTS[name], name
        assert name in dir(tokenwire)
    assert set(tokenwire.__all__) == set(tokenwire._EXPORTS)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from tokenwire import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(tokenwire.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Gatway'"):
        _ = tokenwire.Gatway  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", ["tokenwire", "tokenwire.events", "tokenwire.telemetry"])
def test_low_modules_import_no_web_framework_or_database(module: str) -> None:
    heavy = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "redis", "asyncpg")
    code = f"import sys, {module}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert not [name for name in heavy if f"'{name}'" in loaded], loaded
