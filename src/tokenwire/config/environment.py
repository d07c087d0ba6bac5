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

__all__ = ["OTHER_VARIABLES", "PREFIX", "TEST_PREFIX", "check_environment"]

PREFIX = "TOKENWIRE_"

#: ``TOKENWIRE_*`` variables read for other purposes than a setting of a layered model
#: (:class:`~tokenwire.config.Settings`, :class:`~tokenwire.config.jwt.JwtSettings`):
#: none today; a new one is named here, or it is refused as a typo.
OTHER_VARIABLES: frozenset[str] = frozenset()
#: The test suite's own variables (``TOKENWIRE_TEST_REDIS_URL``, ``…_POSTGRES_URL``,
#: ``…_SCREENSHOTS``): what to test against, no gateway setting.
TEST_PREFIX = f"{PREFIX}TEST_"


def check_environment(known: Iterable[str], environ: Mapping[str, str] | None = None) -> None:
    """Raise :class:`ConfigError` for a ``TOKENWIRE_*`` variable that nothing reads."""
    allowed = {*(f"{PREFIX}{name.upper()}" for name in known), *OTHER_VARIABLES}
    names = os.environ if environ is None else environ
    unknown = sorted(
        name
        for name in names
        if name.upper().startswith(PREFIX)
        and not name.upper().startswith(TEST_PREFIX)
        and name.upper() not in allowed
    )
    if unknown:
        raise ConfigError("; ".join(_unknown(name, allowed) for name in unknown))


def _unknown(name: str, allowed: Iterable[str]) -> str:
    guess = difflib.get_close_matches(name.upper(), sorted(allowed), n=1)
    hint = f" (did you mean {guess[0]}?)" if guess else ""
    return f"{name} (environment): no such setting{hint}"
