"""The one configuration model: every ``TOKENWIRE_*`` variable and ``tokenwire.toml`` key.

Precedence, everywhere: keyword arguments in code > ``TOKENWIRE_<FIELD>`` environment
variables > ``tokenwire.toml`` > defaults. Unknown names are errors in every source, and
every error (a :class:`~tokenwire.errors.ConfigError`) names the field and its source.
"""

from tokenwire.config.settings import Settings

__all__ = ["Settings"]
