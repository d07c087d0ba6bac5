"""``tokenwire.toml``: gateway settings and several routes in one file.

```toml
[gateway]
disconnect_grace_seconds = 2

[routes.chat]
target = "app.py:chain"     # relative to this file
mode = "auto"               # auto | tokens | events
answer_tag = "final"        # optional
on_disconnect = "cancel"    # cancel | continue
first_token_timeout = 10    # reliability keys: see tokenwire.server.reliability_keys

[pricing."my-finetune"]     # USD per million tokens; overrides the bundled table
input = 3.0
output = 12.0
cached_input = 1.5          # optional
```
Every ``[gateway]`` key can also be set as ``TOKENWIRE_<KEY>``; the environment wins.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenwire.config import Origins, Settings
from tokenwire.errors import ConfigError
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.reliability_keys import RELIABILITY_KEYS, reliability_options
from tokenwire.server.targets import load_target
from tokenwire.usage.pricing import PriceTable

__all__ = ["GatewayConfig", "load_config", "read_file", "served_settings"]

_ROUTE_KEYS = {
    "target", "mode", "answer_tag", "on_disconnect", "description", "guardrails", "budget",
    *RELIABILITY_KEYS,
}  # fmt: skip


@dataclass
class GatewayConfig:
    settings: Settings = field(default_factory=Settings)
    routes: list[Route] = field(default_factory=list)
    prices: PriceTable = field(default_factory=PriceTable)
    credentials: Credentials = field(default_factory=Credentials)


#: What a served gateway (``tokenwire serve``/``demo``) sets unless configured otherwise: its
#: process is the gateway's own.
SERVED_DEFAULTS: dict[str, object] = {"gc_freeze": True}


def load_config(path: Path | None, *, routes: bool = True) -> GatewayConfig:
    """The file's gateway, or without one the environment's: ``TOKENWIRE_*`` settings and
    ``TOKENWIRE_JWT_*`` credentials apply either way. ``routes=False`` loads no targets."""
    settings, _ = served_settings(path)
    if path is None:
        return GatewayConfig(settings=settings, credentials=_credentials({}, Path.cwd()))
    data = read_file(path)
    specs = data.get("routes", {}) if routes else {}
    return GatewayConfig(
        settings=settings,
        routes=[_route(name, spec, path.parent) for name, spec in specs.items()],
        prices=PriceTable(data.get("pricing")),
        credentials=_credentials(data.get("auth", {}), path.parent),
    )


def served_settings(path: Path | None) -> tuple[Settings, Origins]:
    """The settings of a served gateway, and where each came from: the file's
    ``[gateway]`` over :data:`SERVED_DEFAULTS`, under the environment."""
    if path is None:
        return Settings.explained(SERVED_DEFAULTS, "served defaults")
    table = {**SERVED_DEFAULTS, **read_file(path).get("gateway", {})}
    return Settings.explained(table, str(path))


def read_file(path: Path) -> dict[str, Any]:
    """``tokenwire.toml`` as tables, refusing tables it does not know."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    unknown = sorted(set(data) - {"gateway", "routes", "pricing", "auth"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {unknown}")
    return data


#: ``[auth]`` keys that may also come from ``TOKENWIRE_<KEY>`` (the table wins).
_AUTH_FROM_ENV = ("jwt_secret", "jwt_issuer", "jwt_audience", "jwt_leeway_seconds")


def _credentials(spec: dict[str, Any], base_dir: Path) -> Credentials:
    """``[auth]``: ``keys = [{alias, key_sha256 (or key), roles, requests_per_minute,
    concurrent_streams, tokens_per_minute}]``, ``jwt_secret`` or ``jwt_public_key_file``,
    ``jwt_issuer``, ``jwt_audience``, ``jwt_leeway_seconds``. The ``jwt_*`` values but the
    key file may also come from ``TOKENWIRE_JWT_SECRET``, ``TOKENWIRE_JWT_ISSUER``, …"""
    unknown = sorted(set(spec) - {"keys", "jwt_public_key_file", *_AUTH_FROM_ENV})
    if unknown:
        raise ValueError(f"[auth]: unknown key(s) {unknown}")
    public_key = None
    if "jwt_public_key_file" in spec:
        public_key = (base_dir / spec["jwt_public_key_file"]).read_text()
    token = {
        name: spec.get(name) or os.environ.get(f"TOKENWIRE_{name.upper()}")
        for name in _AUTH_FROM_ENV
    }
    return Credentials(
        keys=[ApiKey.from_config(k) for k in spec.get("keys", [])],
        jwt_secret=token["jwt_secret"],
        jwt_public_key=public_key,
        jwt_audience=token["jwt_audience"],
        jwt_issuer=token["jwt_issuer"],
        jwt_leeway_seconds=float(token["jwt_leeway_seconds"] or 0),
    )


def _budget(route: str, spec: dict[str, Any]) -> RunBudget:
    unknown = sorted(set(spec) - {"max_output_tokens", "max_cost_usd"})
    if unknown:
        raise ValueError(f"route {route!r}: unknown budget key(s) {unknown}")
    return RunBudget(**spec)


def _route(name: str, spec: dict[str, Any], base_dir: Path) -> Route:
    unknown = sorted(set(spec) - _ROUTE_KEYS)
    if unknown:
        raise ValueError(f"route {name!r}: unknown key(s) {unknown}")
    if "target" not in spec:
        raise ValueError(f"route {name!r}: 'target' is required")
    _, runnable = load_target(spec["target"], base_dir)
    options = {k: v for k, v in spec.items() if k != "target"}
    options.update(reliability_options(options, base_dir))
    if "guardrails" in options:
        options["guardrails"] = Guardrails.from_config(options["guardrails"])
    if "budget" in options:
        options["budget"] = _budget(name, options["budget"])
    return Route(name=name, runnable=runnable, **options)
