"""Gateway settings for tests: no auth, state in a temporary directory of its own.

>>> settings = test_settings(max_output_tokens=5)
>>> settings.auth, Path(settings.data_dir).is_dir()
('none', True)
>>> test_settings(data_dir=str(tmp_path), auth="required")   # any field can be overridden
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from typing import Any

from tokenwire.config import Settings

__all__ = ["test_settings"]


def test_settings(**overrides: Any) -> Settings:
    """``Settings(auth="none", data_dir=<a fresh temporary directory>, **overrides)``.

    The directory (the audit store's home) is removed when the interpreter exits; pass
    ``data_dir=`` (pytest's ``tmp_path``) to keep it where the test can look at it.
    Environment variables (``TOKENWIRE_*``) and ``tokenwire.toml`` are read as usual, under
    the overrides.
    """
    if "data_dir" not in overrides:
        data_dir = tempfile.mkdtemp(prefix="tokenwire-test-")
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
        overrides["data_dir"] = data_dir
    overrides.setdefault("auth", "none")
    return Settings(**overrides)


# Not a test, though pytest collects functions named test_* from a module that imports it.
test_settings.__test__ = False  # type: ignore[attr-defined]
