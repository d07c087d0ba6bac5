"""``tokenwire.toml``: gateway settings and several routes in one file.

```toml
[gateway]
disconnect_grace_seconds = 2

[routes.chat]
target = "app.py:chain"     # relative to this file
mode = "auto"               # auto | tokens | events
answer_tag = "final"        # optional
on_disconnect = "cancel"    # cancel | continue
```
Every ``[gateway]`` key can also be set as ``TOKENWIRE_<KEY>``; the environment wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokenwire.routes import Route
from tokenwire.server.targets import load_target
from tokenwire.settings import Settings

__all__ = ["GatewayConfig", "load_config"]

_ROUTE_KEYS = {"target", "mode", "answer_tag", "on_disconnect", "description"}


@dataclass
class GatewayConfig:
    settings: Settings = field(default_factory=Settings)
    routes: list[Route] = field(default_factory=list)


def load_config(path: Path | None) -> GatewayConfig:
    if path is None:
        return GatewayConfig(settings=Settings.from_env())
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    unknown = sorted(set(data) - {"gateway", "routes"})
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {unknown}")
    settings = Settings.from_env(Settings.from_mapping(data.get("gateway", {})))
    routes = [_route(name, spec, path.parent) for name, spec in data.get("routes", {}).items()]
    return GatewayConfig(settings=settings, routes=routes)


def _route(name: str, spec: dict[str, Any], base_dir: Path) -> Route:
    unknown = sorted(set(spec) - _ROUTE_KEYS)
    if unknown:
        raise ValueError(f"route {name!r}: unknown key(s) {unknown}")
    if "target" not in spec:
        raise ValueError(f"route {name!r}: 'target' is required")
    _, runnable = load_target(spec["target"], base_dir)
    options = {k: v for k, v in spec.items() if k != "target"}
    return Route(name=name, runnable=runnable, **options)
