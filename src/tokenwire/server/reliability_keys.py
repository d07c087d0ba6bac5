"""The reliability keys of a ``[routes.NAME]`` table in ``tokenwire.toml``, as ``Route``
options.

```toml
[routes.chat]
target = "app.py:primary"
first_token_timeout = 10      # seconds; also stall_timeout, total_timeout
stall_timeout = 5
mid_stream = "restart"        # error (default) | restart | continue
retry = { max_retries = 2, base_delay = 0.25, max_delay = 4, budget_seconds = 10 }
circuit_breaker = { failure_threshold = 5, cooldown_seconds = 30 }
fallbacks = [
  "app.py:backup",                                              # streams
  { target = "app.py:batch_model", name = "batch", streaming = false },
]
```
The keys' names and types are checked by :class:`tokenwire.config.tables.RouteSpec`;
``load`` turns a target into a runnable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.runnables import Runnable

from tokenwire.config.tables import FallbackSpec, RouteSpec
from tokenwire.reliability.breaker import BreakerPolicy
from tokenwire.reliability.fallbacks import Fallback
from tokenwire.reliability.retry import RetryPolicy

__all__ = ["RELIABILITY_KEYS", "reliability_options"]

RELIABILITY_KEYS = frozenset(
    {
        "first_token_timeout",
        "stall_timeout",
        "total_timeout",
        "retry",
        "fallbacks",
        "mid_stream",
        "circuit_breaker",
    }
)


def reliability_options(
    spec: RouteSpec, load: Callable[[str], Runnable[Any, Any]]
) -> dict[str, Any]:
    """``Route`` keyword arguments for the reliability keys ``spec`` sets."""
    given = spec.model_fields_set & RELIABILITY_KEYS
    options: dict[str, Any] = {
        key: getattr(spec, key)
        for key in given & {"first_token_timeout", "stall_timeout", "total_timeout", "mid_stream"}
    }
    if spec.retry is not None:
        options["retry"] = RetryPolicy(**spec.retry.given())
    if spec.circuit_breaker is not None:
        options["circuit_breaker"] = BreakerPolicy(**spec.circuit_breaker.given())
    if spec.fallbacks is not None:
        options["fallbacks"] = tuple(_fallback(entry, load) for entry in spec.fallbacks)
    return options


def _fallback(entry: FallbackSpec, load: Callable[[str], Runnable[Any, Any]]) -> Fallback:
    options = entry.given()
    del options["target"]
    return Fallback(load(entry.target), **options)
