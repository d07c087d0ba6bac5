"""The one configuration model: every ``TOKENWIRE_*`` variable and ``tokenwire.toml`` key.

Precedence, everywhere: keyword arguments in code > ``TOKENWIRE_<FIELD>`` environment
variables > ``tokenwire.toml`` > defaults. Unknown names are errors in every source (a
misspelled ``TOKENWIRE_HEARTBEAT=5`` as much as a TOML typo), and every error, a
:class:`~tokenwire.errors.ConfigError`, names the field and its source.

- :class:`Settings` — the gateway (``[gateway]``); :class:`JwtSettings` — how JWTs are
  verified (``TOKENWIRE_JWT_*``, ``[auth]``).
- :func:`read_config` — ``tokenwire.toml``, checked against the models of
  :mod:`tokenwire.config.tables`; :func:`show` — the effective configuration, secrets hidden.
"""

from tokenwire.config.file import ConfigFile, read_config
from tokenwire.config.jwt import JwtSettings
from tokenwire.config.settings import Settings
from tokenwire.config.show import show

__all__ = ["ConfigFile", "JwtSettings", "Settings", "read_config", "show"]
