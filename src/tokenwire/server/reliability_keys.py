"""The reliability keys of a ``[routes.NAME]`` table in ``tokenwire.toml``.

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
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokenwire.reliability.breaker import BreakerPolicy
from tokenwire.reliability.fallbacks import Fallback
from tokenwire.reliability.retry import RetryPolicy
from tokenwire.server.targets import load_target

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
_FALLBACK_KEYS = frozenset({"target", "name", "streaming", "mode", "answer_tag"})


def reliability_options(spec: Mapping[str, Any], base_dir: Path) -> dict[str, Any]:
    """``Route`` keyword arguments for the reliability keys present in ``spec``."""
    options: dict[str, Any] = {}
    for key in ("first_token_timeout", "stall_timeout", "total_timeout"):
        if key in spec:
            options[key] = float(spec[key])
    if "mid_stream" in spec:
        options["mid_stream"] = spec["mid_stream"]
    if "retry" in spec:
        options["retry"] = RetryPolicy(**_table(spec["retry"], "retry"))
    if "circuit_breaker" in spec:
        options["circuit_breaker"] = BreakerPolicy(
            **_table(spec["circuit_breaker"], "circuit_breaker")
        )
    if "fallbacks" in spec:
        entries = spec["fallbacks"]
        if not isinstance(entries, list):
            raise ValueError("'fallbacks' must be a list of targets or tables")
        options["fallbacks"] = tuple(_fallback(entry, base_dir) for entry in entries)
    return options


def _table(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} must be a table, e.g. {key} = {{ ... }}")
    return dict(value)


def _fallback(entry: Any, base_dir: Path) -> Fallback:
    if isinstance(entry, str):
        entry = {"target": entry}
    entry = _table(entry, "fallbacks[]")
    unknown = sorted(set(entry) - _FALLBACK_KEYS)
    if unknown or "target" not in entry:
        raise ValueError(f"a fallback needs 'target' and may set {sorted(_FALLBACK_KEYS)}")
    _, runnable = load_target(entry.pop("target"), base_dir)
    return Fallback(runnable, **entry)
