"""A served gateway's configuration: ``tokenwire.toml`` (checked by :mod:`tokenwire.config`)
and the environment, turned into settings, routes, prices and credentials.

Precedence, as everywhere: ``TOKENWIRE_*`` environment variables win over the file, which
wins over the defaults. Without a file, the environment alone configures the gateway —
``TOKENWIRE_JWT_SECRET`` included.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tokenwire.config import Settings
from tokenwire.config.file import ConfigFile, read_config
from tokenwire.config.tables import AuthTable, RouteSpec
from tokenwire.errors import ConfigError
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.routes import RolloutPlan, Route
from tokenwire.security.credentials import ApiKey, Credentials
from tokenwire.server.reliability_keys import RELIABILITY_KEYS, reliability_options
from tokenwire.server.targets import load_target
from tokenwire.usage.pricing import PriceTable

__all__ = ["SERVED_DEFAULTS", "GatewayConfig", "load_config"]


@dataclass
class GatewayConfig:
    settings: Settings = field(default_factory=Settings)
    routes: list[Route] = field(default_factory=list)
    prices: PriceTable = field(default_factory=PriceTable)
    credentials: Credentials = field(default_factory=Credentials)


#: What a served gateway (``tokenwire serve``/``demo``) sets unless configured otherwise: its
#: process is the gateway's own.
SERVED_DEFAULTS: dict[str, object] = {"gc_freeze": True}


def load_config(path: Path | None) -> GatewayConfig:
    file = read_config(path)
    return GatewayConfig(
        settings=file.settings(SERVED_DEFAULTS),
        routes=[_route(name, spec, file.base_dir) for name, spec in file.routes.items()],
        prices=PriceTable({name: price.given() for name, price in file.pricing.items()}),
        credentials=_credentials(file),
    )


def _credentials(file: ConfigFile) -> Credentials:
    """``[auth]`` keys and key file, and the JWT settings (environment over ``[auth]``)."""
    auth: AuthTable = file.auth
    public_key = None
    if auth.jwt_public_key_file is not None:
        public_key = (file.base_dir / auth.jwt_public_key_file).read_text()
    jwt = file.jwt_settings()
    return Credentials(
        keys=[ApiKey.from_config(key.given()) for key in auth.keys],
        jwt_secret=jwt.jwt_secret.get_secret_value() or None,
        jwt_public_key=public_key,
        jwt_audience=jwt.jwt_audience or None,
        jwt_issuer=jwt.jwt_issuer or None,
        jwt_leeway_seconds=jwt.jwt_leeway_seconds,
        jwt_department_claim=jwt.jwt_department_claim or None,
    )


def _route(name: str, spec: RouteSpec, base_dir: Path) -> Route:
    def load(target: str) -> Any:
        return load_target(target, base_dir)[1]

    runnable = load(spec.target)
    plain = spec.given().keys() - RELIABILITY_KEYS - {"target", "guardrails", "budget", "rollout"}
    options: dict[str, Any] = {key: getattr(spec, key) for key in plain}
    options.update(reliability_options(spec, load))
    if spec.guardrails is not None:
        options["guardrails"] = Guardrails.from_config(spec.guardrails.given())
    if spec.budget is not None:
        options["budget"] = RunBudget(**spec.budget.given())
    route = Route(name=name, runnable=runnable, **options)
    if spec.rollout is None:
        return route
    return dataclasses.replace(route, rollout=_rollout(name, spec, base_dir))


def _rollout(name: str, spec: RouteSpec, base_dir: Path) -> RolloutPlan:
    """Each variant is the route with its own ``target`` or ``overrides`` (route keys,
    checked as ``[routes.NAME]`` is); the shadow is the route with the shadow's target."""
    policy = spec.rollout
    assert policy is not None
    base = spec.given()
    base.pop("rollout")

    def variant(where: str, target: str | None, overrides: dict[str, Any]) -> Route:
        if target is None and not overrides:
            raise ConfigError(f"routes.{name}.rollout: {where} needs a target or overrides")
        changed = {**base, **overrides, "target": target or spec.target}
        try:
            variant_spec = RouteSpec(**changed)
        except ValidationError as exc:
            raise ConfigError(f"routes.{name}.rollout: {where}: {exc}") from None
        return _route(name, variant_spec, base_dir)

    variants = {
        v.name: variant(f"variant {v.name!r}", v.target, v.overrides) for v in policy.variants
    }
    shadow = None
    if policy.shadow is not None:
        shadow = variant("shadow", policy.shadow.target, {})
    return RolloutPlan(policy, variants, shadow)
