"""The ``TOKENWIRE_*`` environment: every variable is a setting or is named here.

pydantic-settings reads only the variables of known fields and ignores the rest, so a
misspelled ``TOKENWIRE_HEARTBEAT=5`` would silently do nothing. :func:`check_environment`
refuses it instead, naming the variable (and the setting it probably meant).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping

from tokenwire.errors import ConfigError

__all__ = ["OTHER_VARIABLES", "PREFIX", "check_environment"]

PREFIX = "TOKENWIRE_"

#: ``TOKENWIRE_*`` variables that are read for other purposes than a setting.
OTHER_VARIABLES = frozenset(
    {
        "TOKENWIRE_TEST_REDIS_URL",  # tests/conftest.py: the Redis the test suite uses
        "TOKENWIRE_TEST_POSTGRES_URL",  # tests/audit/conftest.py: its PostgreSQL
        "TOKENWIRE_SCREENSHOTS",  # tests/ui/conftest.py: where UI screenshots go
    }
)


def check_environment(known: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for a ``TOKENWIRE_*`` variable that nothing reads."""
    allowed = {*(f"{PREFIX}{name.upper()}" for name in known), *OTHER_VARIABLES}
    names = os.environ if environ is None else environ
    unknown = sorted(n for n in names if n.upper().startswith(PREFIX) and n.upper() not in allowed)
    if unknown:
        raise ConfigError("; ".join(_unknown(name, allowed) for name in unknown))


def _unknown(name: str, allowed: Iterable[str]) -> str:
    guess = difflib.get_close_matches(name.upper(), sorted(allowed), n=1)
    hint = f" (did you mean {guess[0]}?)" if guess else ""
    return f"{name} (environment): no such setting{hint}"
