"""Configuration: :class:`Settings`, the one reader of ``TOKENWIRE_*`` variables and of
``tokenwire.toml``'s ``[gateway]`` table (:mod:`.sources` says in which order)."""

from tokenwire.config.settings import Settings
from tokenwire.config.sources import Origins

__all__ = ["Origins", "Settings"]
