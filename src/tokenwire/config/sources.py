"""Where a setting's value comes from: arguments, the environment, ``tokenwire.toml``.

Precedence, everywhere: an argument in code beats ``TOKENWIRE_<FIELD>`` in the
environment, which beats the ``[gateway]`` table of the file, which beats the default.
pydantic-settings ignores environment variables it does not know; here a ``TOKENWIRE_*``
variable that is no setting is an error, as a misspelled TOML key is — unless it is one the
project reads elsewhere (:data:`OTHER_VARIABLES`) or the test suite's (``TOKENWIRE_TEST_*``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from tokenwire.errors import ConfigError

__all__ = ["ENV_PREFIX", "OTHER_VARIABLES", "EnvironmentSource", "FileSource", "Origins"]

ENV_PREFIX = "TOKENWIRE_"
#: ``TOKENWIRE_*`` variables that are not gateway settings: the ``[auth]`` table's JWT keys.
OTHER_VARIABLES = frozenset(
    f"{ENV_PREFIX}JWT_{name}" for name in ("SECRET", "ISSUER", "AUDIENCE", "LEEWAY_SECONDS")
)
#: Variables of the project's own test suite (a Redis or PostgreSQL to test against, …).
_TEST_PREFIX = f"{ENV_PREFIX}TEST_"

#: The ``[gateway]`` table being read, and the file it came from (see :meth:`FileSource.reading`).
_FILE: ContextVar[tuple[Mapping[str, Any], str] | None] = ContextVar("tokenwire_file", default=None)


def environment_values(names: Mapping[str, FieldInfo]) -> dict[str, str]:
    """The settings set in the environment, by field name; raises on an unknown variable."""
    found: dict[str, str] = {}
    unknown: list[str] = []
    for variable, value in os.environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        if name in names:
            found[name] = value
        elif variable not in OTHER_VARIABLES and not variable.startswith(_TEST_PREFIX):
            unknown.append(variable)
    if unknown:
        raise ConfigError(
            f"unknown setting(s) in the environment: {', '.join(sorted(unknown))} "
            "(every setting is a field of tokenwire.config.Settings)"
        )
    return found


class EnvironmentSource(PydanticBaseSettingsSource):
    """``TOKENWIRE_<FIELD>`` variables, strings that the model validates."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        value = environment_values(self.settings_cls.model_fields).get(field_name)
        return value, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(environment_values(self.settings_cls.model_fields))


class FileSource(PydanticBaseSettingsSource):
    """The ``[gateway]`` table of ``tokenwire.toml``, while :meth:`reading` it."""

    @staticmethod
    @contextlib.contextmanager
    def reading(table: Mapping[str, Any], origin: str) -> Iterator[None]:
        token = _FILE.set((table, origin))
        try:
            yield
        finally:
            _FILE.reset(token)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        current = _FILE.get()
        return dict(current[0]) if current is not None else {}


@dataclass(frozen=True)
class Origins:
    """Which source gave each setting its value: for error messages and ``config show``."""

    arguments: frozenset[str]
    environment: frozenset[str]
    file: frozenset[str]
    file_name: str

    @classmethod
    def current(cls, arguments: Mapping[str, Any], settings: type[BaseSettings]) -> Origins:
        current = _FILE.get()
        table, file_name = current if current is not None else ({}, "")
        try:
            environment = environment_values(settings.model_fields)
        except ConfigError:
            environment = {}
        return cls(frozenset(arguments), frozenset(environment), frozenset(table), file_name)

    def of(self, name: str) -> str:
        if name in self.arguments:
            return f"{name} (argument)"
        if name in self.environment:
            return f"{ENV_PREFIX}{name.upper()} (environment)"
        if name in self.file:
            return f"{self.file_name} [gateway] {name}"
        return f"{name} (default)"

    def source(self, name: str) -> str:
        """``argument``, ``environment``, the file's name, or ``default``."""
        for kind, names in (
            ("argument", self.arguments),
            ("environment", self.environment),
            (self.file_name, self.file),
        ):
            if name in names:
                return kind
        return "default"

    def describe(self, error: ValidationError) -> str:
        """One line per problem, each naming the setting and where its value came from."""
        problems = []
        for item in error.errors(include_url=False, include_input=False):
            name = str(item["loc"][0]) if item["loc"] else "?"
            message = "unknown setting" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{self.of(name)}: {message}")
        return "invalid settings: " + "; ".join(problems)
