"""Settings read from three layers, in one order everywhere.

Highest first: keyword arguments in code, then ``TOKENWIRE_<FIELD>`` environment variables,
then a table of ``tokenwire.toml``, then the defaults. Every error is a
:class:`~tokenwire.errors.ConfigError` naming the field and where its value came from, e.g.
``TOKENWIRE_HEARTBEAT_SECONDS (environment): must be > 0``; it never quotes the value, which
may be a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Self, TypeVar

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from tokenwire.config.environment import PREFIX, check_environment
from tokenwire.errors import ConfigError

__all__ = ["FileLayer", "LayeredSettings", "Source", "from_file", "message"]

#: Where a value came from, as ``config show`` says it.
Source = Literal["default", "env", "file"]


@dataclass(frozen=True, slots=True)
class FileLayer:
    """One table of a configuration file: its values and how to name it in errors."""

    values: Mapping[str, Any]
    #: e.g. ``tokenwire.toml [gateway]``
    where: str
    #: Where a value the table holds for another was written instead, by setting (e.g.
    #: ``telemetry_jsonl``: ``tokenwire.toml [telemetry] jsonl``).
    elsewhere: Mapping[str, str] = field(default_factory=dict)


#: The file layer of the settings being built right now (a context variable, so building
#: settings in two threads at once cannot mix their files).
_FILE: ContextVar[FileLayer | None] = ContextVar("tokenwire_config_file", default=None)


class LayeredSettings(BaseSettings):
    """A frozen pydantic-settings model with the layers above, unknown names refused."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    def __init__(self, **values: Any) -> None:
        layer = _FILE.get()
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(type(self), exc, values, layer)) from None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _CheckedEnvSource(settings_cls), _FileSource(settings_cls)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes``, validated like a new instance. The fields set stay the
        ones set (a default copied is still a default) and ``changes``."""
        copy = type(self)(**{**dict(self), **changes})
        object.__setattr__(copy, "__pydantic_fields_set__", self.model_fields_set | set(changes))
        return copy

    @classmethod
    def source_of(cls, name: str, layer: FileLayer | None = None) -> Source:
        """Where the value of field ``name`` comes from when built with ``layer`` (and no
        keyword arguments)."""
        if _env_name(name) in _environment():
            return "env"
        if layer is not None and name in layer.values:
            return "file"
        return "default"


S = TypeVar("S", bound=LayeredSettings)


def from_file(cls: type[S], layer: FileLayer, **values: Any) -> S:
    """``cls(**values)`` with ``layer`` as its file layer."""
    token = _FILE.set(layer)
    try:
        return cls(**values)
    finally:
        _FILE.reset(token)


class _CheckedEnvSource(EnvSettingsSource):
    """The environment, after refusing any ``TOKENWIRE_*`` variable that nothing reads."""

    def __call__(self) -> dict[str, Any]:
        check_environment(_known_names())
        return super().__call__()


class _FileSource(PydanticBaseSettingsSource):
    """The file layer; unknown keys stay in, so validation refuses them as extra."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        layer = _FILE.get()
        return (layer.values.get(field_name) if layer else None), field_name, False

    def __call__(self) -> dict[str, Any]:
        layer = _FILE.get()
        return dict(layer.values) if layer else {}


def _known_names() -> set[str]:
    """Every field of every layered settings class: all of them read the environment."""
    pending: list[type[LayeredSettings]] = [LayeredSettings]
    names: set[str] = set()
    while pending:
        cls = pending.pop()
        names.update(cls.model_fields)
        pending.extend(cls.__subclasses__())
    return names


def _environment() -> set[str]:
    return {name.upper() for name in os.environ}


def _env_name(name: str) -> str:
    return f"{PREFIX}{name.upper()}"


def _describe(
    cls: type[LayeredSettings],
    exc: ValidationError,
    values: Mapping[str, Any],
    layer: FileLayer | None,
) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        name = ".".join(str(part) for part in error["loc"])
        problems.append(f"{_origin(cls, name, values, layer)}: {message(error)}")
    return "; ".join(problems)


def _origin(
    cls: type[LayeredSettings], name: str, values: Mapping[str, Any], layer: FileLayer | None
) -> str:
    field = name.split(".")[0]
    if field in values:
        return f"{cls.__name__}({field}=...)"
    if _env_name(field) in _environment() and field in cls.model_fields:
        return f"{_env_name(field)} (environment)"
    if layer is not None and field in layer.values:
        if field in layer.elsewhere:
            return layer.elsewhere[field] + name[len(field) :]
        return f"{layer.where} {name}"
    return name


def message(error: ErrorDetails) -> str:
    """pydantic's message in the words of a configuration, without the offending value."""
    context = error.get("ctx", {})
    kind = error["type"]
    if kind == "greater_than":
        return f"must be > {_number(context['gt'])}"
    if kind == "greater_than_equal":
        return f"must be >= {_number(context['ge'])}"
    if kind == "literal_error":
        return f"must be one of {context['expected']}"
    if kind == "extra_forbidden":
        return "no such setting"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _number(bound: Any) -> Any:
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound
