"""Which exporters finished runs go to: ``telemetry_exporters`` (``[telemetry] exporters``).

An exporter is any object with

* ``name: str`` — how drops are counted (``tokenwire_telemetry_dropped_total{exporter}``)
  and logged;
* ``export(records: Sequence[RunRecord]) -> None`` — one batch of finished runs, in order.
  A plain ``def`` runs on the pipeline's export thread, never on the event loop, so it may
  block (write a file, make an HTTP call); an ``async def`` is awaited on the loop. Raising
  loses that batch (counted), never a stream;
* ``close() -> None`` — at shutdown, within ``shutdown_grace_seconds``.

By name: ``jsonl`` (``telemetry_jsonl``), ``otlp`` (``otlp_endpoint``), ``wandb``
(``telemetry_wandb_*``). The default, ``["jsonl", "otlp"]``, runs each one whose file or
endpoint is set; a list that is configured runs exactly what it names. By import path,
``package.module:attr``: an exporter object, or a class or function that makes one when
called with no arguments. A name that cannot work — a missing file or endpoint, an import
that fails, an object that is no exporter — is a :class:`~tokenwire.errors.ConfigError`
naming it, when the gateway is built.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, cast

from tokenwire.config import Settings
from tokenwire.errors import ConfigError
from tokenwire.telemetry.pipeline import Exporter

__all__ = ["exporter_names", "imported_exporter", "wandb_exporter"]


def exporter_names(settings: Settings) -> list[str]:
    """The exporters ``settings`` choose, each checked to have what it needs (by default,
    ``jsonl`` and ``otlp`` are on when their file and endpoint are set)."""
    names = list(settings.telemetry_exporters)
    if "telemetry_exporters" not in settings.model_fields_set:
        configured = {"jsonl": settings.telemetry_jsonl, "otlp": settings.otlp_endpoint}
        return [name for name in names if configured.get(name, True)]
    if "jsonl" in names and not settings.telemetry_jsonl:
        raise ConfigError("telemetry exporter 'jsonl' needs telemetry_jsonl (its file)")
    if "otlp" in names and not settings.otlp_endpoint:
        raise ConfigError("telemetry exporter 'otlp' needs otlp_endpoint (the collector)")
    return names


def wandb_exporter(settings: Settings) -> Exporter:
    try:
        from tokenwire.telemetry.wandb_runs import WandbExporter
    except ImportError as exc:
        raise ConfigError(
            f"telemetry exporter 'wandb' needs the wandb package: pip install "
            f"'tokenwire[wandb]' ({exc})"
        ) from None
    directory = settings.telemetry_wandb_dir or str(Path(settings.data_dir or "data") / "wandb")
    return WandbExporter(project=settings.telemetry_wandb_project, directory=directory)


def imported_exporter(path: str) -> Exporter:
    """The exporter ``package.module:attr`` names (made by calling it, unless it is one)."""
    module_name, _, attr = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except Exception as exc:  # whatever the module raised, the start-up error names it
        raise ConfigError(f"telemetry exporter {path!r}: cannot import {module_name!r}: "
                          f"{type(exc).__name__}: {exc}") from None  # fmt: skip
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ConfigError(
                f"telemetry exporter {path!r}: {module_name!r} has no {attr!r}"
            ) from None
    if inspect.isclass(found) or (callable(found) and not _is_exporter(found)):
        try:
            found = found()
        except Exception as exc:
            raise ConfigError(f"telemetry exporter {path!r}: making it failed: "
                              f"{type(exc).__name__}: {exc}") from None  # fmt: skip
    if not _is_exporter(found):
        raise ConfigError(
            f"telemetry exporter {path!r} is not an exporter: it needs a name, "
            "export(records) and close() (see tokenwire.telemetry.exporters)"
        )
    return cast(Exporter, found)


def _is_exporter(value: Any) -> bool:
    return (
        isinstance(getattr(value, "name", None), str)
        and callable(getattr(value, "export", None))
        and callable(getattr(value, "close", None))
    )
