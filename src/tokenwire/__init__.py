"""tokenwire: a production streaming gateway for LangChain runnables.

Everything a user needs is importable from here (``from tokenwire import Gateway, Route``),
and ``__all__`` is the public API: other modules may change between releases. Names load on
first use (PEP 562), so ``import tokenwire.events`` costs no web framework or database driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenwire.audit.trail import AuditTrail
    from tokenwire.config.settings import Settings
    from tokenwire.errors import (
        ClusterUnavailable,
        ConfigError,
        GuardFailed,
        IdempotencyConflict,
        InvalidRequest,
        Overloaded,
        RateLimited,
        RegistryFull,
        RunRefused,
        ThreadBusy,
        TokenwireError,
        UnknownRoute,
        UnknownThread,
    )
    from tokenwire.events import ErrorCode, Event, EventType, RunStatus
    from tokenwire.gateway.facade import Gateway
    from tokenwire.gateway.hooks import Hooks
    from tokenwire.pipeline.budgets import RunBudget
    from tokenwire.pipeline.findings import Guard
    from tokenwire.pipeline.guardrails import Guardrails
    from tokenwire.pipeline.pii import PiiGuard
    from tokenwire.pipeline.rules import DenyRule
    from tokenwire.reliability.breaker import BreakerPolicy
    from tokenwire.reliability.fallbacks import Fallback
    from tokenwire.reliability.retry import RetryPolicy
    from tokenwire.rollout.spec import RolloutPolicy, VariantSpec
    from tokenwire.routes import RolloutPlan, Route
    from tokenwire.security.credentials import ApiKey, Credentials
    from tokenwire.server.api import create_router
    from tokenwire.server.app import create_app, install_auth
    from tokenwire.server.protocols_api import create_protocol_routers
    from tokenwire.telemetry.handler import StreamTelemetryHandler
    from tokenwire.usage.pricing import PriceTable

#: Each public name and the module that defines it.
_EXPORTS = {
    "ApiKey": "tokenwire.security.credentials",
    "AuditTrail": "tokenwire.audit.trail",
    "BreakerPolicy": "tokenwire.reliability.breaker",
    "ClusterUnavailable": "tokenwire.errors",
    "ConfigError": "tokenwire.errors",
    "Credentials": "tokenwire.security.credentials",
    "DenyRule": "tokenwire.pipeline.rules",
    "ErrorCode": "tokenwire.events",
    "Event": "tokenwire.events",
    "EventType": "tokenwire.events",
    "Fallback": "tokenwire.reliability.fallbacks",
    "Gateway": "tokenwire.gateway.facade",
    "Guard": "tokenwire.pipeline.findings",
    "GuardFailed": "tokenwire.errors",
    "Guardrails": "tokenwire.pipeline.guardrails",
    "Hooks": "tokenwire.gateway.hooks",
    "IdempotencyConflict": "tokenwire.errors",
    "InvalidRequest": "tokenwire.errors",
    "Overloaded": "tokenwire.errors",
    "PiiGuard": "tokenwire.pipeline.pii",
    "PriceTable": "tokenwire.usage.pricing",
    "RateLimited": "tokenwire.errors",
    "RegistryFull": "tokenwire.errors",
    "RetryPolicy": "tokenwire.reliability.retry",
    "RolloutPlan": "tokenwire.routes",
    "RolloutPolicy": "tokenwire.rollout.spec",
    "Route": "tokenwire.routes",
    "RunBudget": "tokenwire.pipeline.budgets",
    "RunRefused": "tokenwire.errors",
    "RunStatus": "tokenwire.events",
    "Settings": "tokenwire.config.settings",
    "StreamTelemetryHandler": "tokenwire.telemetry.handler",
    "ThreadBusy": "tokenwire.errors",
    "TokenwireError": "tokenwire.errors",
    "UnknownRoute": "tokenwire.errors",
    "UnknownThread": "tokenwire.errors",
    "VariantSpec": "tokenwire.rollout.spec",
    "create_app": "tokenwire.server.app",
    "create_protocol_routers": "tokenwire.server.protocols_api",
    "create_router": "tokenwire.server.api",
    "install_auth": "tokenwire.server.app",
}

__all__ = [
    "ApiKey",
    "AuditTrail",
    "BreakerPolicy",
    "ClusterUnavailable",
    "ConfigError",
    "Credentials",
    "DenyRule",
    "ErrorCode",
    "Event",
    "EventType",
    "Fallback",
    "Gateway",
    "Guard",
    "GuardFailed",
    "Guardrails",
    "Hooks",
    "IdempotencyConflict",
    "InvalidRequest",
    "Overloaded",
    "PiiGuard",
    "PriceTable",
    "RateLimited",
    "RegistryFull",
    "RetryPolicy",
    "RolloutPlan",
    "RolloutPolicy",
    "Route",
    "RunBudget",
    "RunRefused",
    "RunStatus",
    "Settings",
    "StreamTelemetryHandler",
    "ThreadBusy",
    "TokenwireError",
    "UnknownRoute",
    "UnknownThread",
    "VariantSpec",
    "create_app",
    "create_protocol_routers",
    "create_router",
    "install_auth",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tokenwire' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
