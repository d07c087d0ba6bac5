"""``tokenwire config show``: every effective setting, its value and its source.

The output reads as ``tokenwire.toml`` (``key = value  # source``), so it can seed a file;
every secret prints as ``**********`` (or ``""`` when unset), a URL without its password.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import SecretStr

from tokenwire.config.file import ConfigFile
from tokenwire.config.layered import FileLayer, LayeredSettings
from tokenwire.config.tables import ApiKeySpec

__all__ = ["HIDDEN", "show"]

HIDDEN = "**********"


def show(file: ConfigFile, defaults: Mapping[str, Any] | None = None) -> list[str]:
    """The lines of ``config show`` for ``file`` read as ``tokenwire serve`` reads it, with
    ``defaults`` as a served gateway's own (they show as ``default``)."""
    served = dict(defaults or {})
    gateway = file.gateway_layer(served)
    jwt = FileLayer(file.jwt, f"{file.path} [auth]")
    auth = file.auth
    return [
        f"# precedence: environment (TOKENWIRE_*) > {file.path or 'no file'} > defaults",
        "[gateway]",
        *_lines(file.settings(served), gateway, set(served) - set(file.gateway)),
        "",
        "[auth]",
        *_lines(file.jwt_settings(), jwt, set()),
        f"# {len(auth.keys)} API key(s): {', '.join(_key(k) for k in auth.keys) or 'none'}",
        f"jwt_public_key_file = {_toml(auth.jwt_public_key_file or '')}",
    ]


def _lines(settings: LayeredSettings, layer: FileLayer, defaulted: set[str]) -> Iterator[str]:
    shown = dict(settings.__repr_args__())  # what a repr shows: URLs without passwords
    for name in type(settings).model_fields:
        source = settings.source_of(name, layer)
        if source == "file" and name in defaulted:
            source = "default"
        value = getattr(settings, name)
        text = _secret(value) if isinstance(value, SecretStr) else _toml(shown[name])
        yield f"{name} = {text}  # {source}"


def _key(key: ApiKeySpec) -> str:
    """A key as its metrics label it: ``web (sales)`` for a key of the sales department."""
    return f"{key.alias} ({key.department})" if key.department else key.alias


def _secret(value: SecretStr) -> str:
    return _toml(HIDDEN if value.get_secret_value() else "")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | list):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return f"[{', '.join(_toml(item) for item in value)}]"
    return str(value)
