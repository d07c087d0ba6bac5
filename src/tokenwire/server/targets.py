"""Load a runnable from ``path/to/file.py:attr`` or ``package.module:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

from langchain_core.runnables import Runnable

__all__ = ["TargetError", "load_target"]


class TargetError(ValueError):
    pass


def load_target(target: str, base_dir: Path | None = None) -> tuple[str, Runnable[Any, Any]]:
    """Return ``(attribute name, runnable)``; a zero-argument factory is called once."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise TargetError(f"target {target!r} must look like 'file.py:attr' or 'pkg.module:attr'")
    module = _import(module_part, base_dir or Path.cwd())
    try:
        value = getattr(module, attr)
    except AttributeError:
        raise TargetError(f"{module_part!r} has no attribute {attr!r}") from None
    if not isinstance(value, Runnable) and _is_factory(value):
        value = value()
    if not isinstance(value, Runnable):
        raise TargetError(f"{target!r} is {type(value).__name__}, not a LangChain Runnable")
    return attr, value


def _is_factory(value: Any) -> bool:
    """A callable that can be called with no arguments (and is not a class)."""
    if not callable(value) or isinstance(value, type):
        return False
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )


def _import(module_part: str, base_dir: Path) -> Any:
    if module_part.endswith(".py") or "/" in module_part:
        path = (base_dir / module_part).resolve()
        if not path.is_file():
            raise TargetError(f"no such file: {path}")
        name = f"tokenwire_target_{path.stem}_{abs(hash(path)):x}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise TargetError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        # The file's own directory is importable, as when running it as a script.
        sys.path.insert(0, str(path.parent))
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(module_part)
    except ImportError as exc:
        raise TargetError(f"cannot import {module_part!r}: {exc}") from None
