"""``tokenwire.toml``: read once, checked against the models of its tables.

```toml
[gateway]                   # Settings; TOKENWIRE_<KEY> wins over the file
disconnect_grace_seconds = 2

[routes.chat]               # RouteSpec
target = "app.py:chain"     # relative to this file
mode = "auto"               # auto | tokens | events
first_token_timeout = 10    # reliability keys: see tokenwire.server.reliability_keys

[pricing."my-finetune"]     # PriceSpec: USD per million tokens; overrides the bundled table
input = 3.0
output = 12.0

[auth]                      # AuthTable, and JwtSettings (TOKENWIRE_JWT_* wins over the file)
keys = [{ alias = "web", key_sha256 = "..." }]
jwt_issuer = "https://issuer.example"

[telemetry]                 # Settings too: KEY is telemetry_KEY (otlp_* keys as they are)
exporters = ["jsonl", "wandb", "mypkg.exporters:Audit"]
jsonl = "data/runs.jsonl"   # telemetry_jsonl
```
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from tokenwire.config.jwt import JWT_KEYS, JwtSettings
from tokenwire.config.layered import FileLayer, from_file, message
from tokenwire.config.settings import Settings
from tokenwire.config.tables import AuthTable, PriceSpec, RouteSpec
from tokenwire.errors import ConfigError

__all__ = ["ConfigFile", "read_config"]


class _Tables(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: dict[str, Any] = {}
    routes: dict[str, RouteSpec] = {}
    pricing: dict[str, PriceSpec] = {}
    auth: AuthTable = AuthTable()


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A checked ``tokenwire.toml`` (or none: ``path`` is ``None`` and every table empty)."""

    path: Path | None = None
    routes: Mapping[str, RouteSpec] = field(default_factory=dict)
    pricing: Mapping[str, PriceSpec] = field(default_factory=dict)
    auth: AuthTable = field(default_factory=AuthTable)
    gateway: Mapping[str, Any] = field(default_factory=dict)
    jwt: Mapping[str, Any] = field(default_factory=dict)
    #: The settings ``[telemetry]`` set (part of ``gateway``), and their keys there.
    telemetry: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """What relative paths in the file are relative to."""
        return self.path.parent if self.path else Path.cwd()

    def gateway_layer(self, defaults: Mapping[str, Any] | None = None) -> FileLayer:
        """``[gateway]`` over ``defaults`` (what a served gateway sets unless configured)."""
        where = {name: f"{self.path} [telemetry] {key}" for name, key in self.telemetry.items()}
        return FileLayer({**(defaults or {}), **self.gateway}, f"{self.path} [gateway]", where)

    def settings(self, defaults: Mapping[str, Any] | None = None, **values: Any) -> Settings:
        """The effective settings: ``values`` > environment > ``[gateway]`` > ``defaults``."""
        return from_file(Settings, self.gateway_layer(defaults), **values)

    def jwt_settings(self) -> JwtSettings:
        return from_file(JwtSettings, FileLayer(self.jwt, f"{self.path} [auth]"))


def read_config(path: Path | None) -> ConfigFile:
    """The file at ``path``, checked; ``None``: no file (environment and defaults only)."""
    if path is None:
        return ConfigFile()
    with path.open("rb") as fh:
        data: dict[str, Any] = tomllib.load(fh)
    jwt: dict[str, Any] = {}
    auth = data.get("auth")
    if isinstance(auth, dict):  # its jwt_* keys are JwtSettings, layered with the environment
        jwt = {k: v for k, v in auth.items() if k in JWT_KEYS}
        data = {**data, "auth": {k: v for k, v in auth.items() if k not in JWT_KEYS}}
    telemetry = _telemetry_settings(path, data.pop("telemetry", {}), data.get("gateway"))
    try:
        tables = _Tables.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None
    return ConfigFile(
        path=path,
        routes=tables.routes,
        pricing=tables.pricing,
        auth=tables.auth,
        gateway={**tables.gateway, **{name: value for name, (_, value) in telemetry.items()}},
        jwt=jwt,
        telemetry={name: key for name, (key, _) in telemetry.items()},
    )


def _telemetry_settings(path: Path, table: Any, gateway: Any) -> dict[str, tuple[str, Any]]:
    """``[telemetry]``'s keys as the settings they are (``KEY`` is ``telemetry_KEY``, an
    ``otlp_*`` key is itself): setting → (key, value). Not both there and in ``[gateway]``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path} [telemetry]: must be a table")
    settings: dict[str, tuple[str, Any]] = {}
    for key, value in table.items():
        name = key if key.startswith("otlp_") else f"telemetry_{key}"
        if name not in Settings.model_fields:
            raise ConfigError(f"{path} [telemetry] {key}: no such setting")
        if isinstance(gateway, dict) and name in gateway:
            raise ConfigError(f"{path} [telemetry] {key}: set in [gateway] too (as {name})")
        settings[name] = (key, value)
    return settings


def _describe(path: Path, exc: ValidationError) -> str:
    problems: dict[str, str] = {}  # one problem per key: a union fails once per member
    for error in exc.errors(include_url=False, include_input=False):
        parts = [str(part) for part in error["loc"] if not _UNION_MEMBER.match(str(part))]
        *table, key = parts or [""]
        if not table:
            where = f"{path}: [{key}]" if error["type"] == "extra_forbidden" else f"{path} {key}"
            text = "no such table" if error["type"] == "extra_forbidden" else message(error)
        else:
            where, text = f"{path} [{'.'.join(table)}] {key}", message(error)
        problems.setdefault(where, text)
    return "; ".join(f"{where}: {text}" for where, text in problems.items())


#: How pydantic names the member of a union in an error's location (``bool``, ``list[str]``).
_UNION_MEMBER = re.compile(r"^(bool|int|float|str|list\[.*\]|dict\[.*\])$")
