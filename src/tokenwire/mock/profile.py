"""How the mock behaves for one request: latency, length, reasoning and injected faults.

Settings come from the model name and from headers; headers win over the model name, which
wins over the app's default profile::

    mock@ttft=300,itl=20,jitter=5,tokens=40,fault=drop:5,reasoning=1

    x-mock-ttft-ms: 300        x-mock-tokens: 40        x-mock-reasoning: 1
    x-mock-itl-ms: 20          x-mock-fault: 429x2      x-mock-fault-key: my-test
    x-mock-jitter-ms: 5

Fault specs (``fault=`` / ``x-mock-fault``), each optionally suffixed ``xK`` to fire only on
the first K requests of a fault key (``x-mock-fault-key``, else the full model string):

- ``429``, ``500`` (any 4xx/5xx) — that HTTP status with an OpenAI error body, before streaming
- ``drop:N`` — abort the connection after N tokens, leaving the chunked body unterminated
- ``stall:N:S`` — after N tokens pause S seconds, then continue
- ``malformed:N`` — after N tokens send ``data: {not json``, then continue
- ``none`` or empty — no fault (overrides a default profile's fault)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = ["Fault", "FaultKind", "MockProfile", "ProfileError", "is_mock_model"]

FaultKind = Literal["status", "drop", "stall", "malformed"]

MAX_TOKENS = 1_000_000

_FAULT = re.compile(
    r"""^(?:
        (?P<status>[45]\d\d)
      | (?P<kind>drop|malformed):(?P<after>\d+)
      | stall:(?P<stall_after>\d+):(?P<seconds>\d+(?:\.\d*)?|\.\d+)
    )(?:x(?P<times>\d+))?$""",
    re.VERBOSE,
)
_MODEL = re.compile(r"^mock(?:-[^@]*)?$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ProfileError(ValueError):
    """A mock setting in the model name or a header could not be understood."""

    def __repr__(self) -> str:
        return f"ProfileError({str(self)!r})"


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure to inject: ``Fault.parse("drop:5")``, ``Fault.parse("429x2")``."""

    kind: FaultKind
    status: int = 0
    after: int = 0
    seconds: float = 0.0
    times: int | None = None

    @classmethod
    def parse(cls, spec: str) -> Fault | None:
        spec = spec.strip().lower()
        if spec in ("", "none"):
            return None
        match = _FAULT.match(spec)
        if match is None:
            raise ProfileError(
                f"invalid fault {spec!r}: expected 429, 500, drop:N, stall:N:S or malformed:N,"
                " optionally followed by xK"
            )
        times = int(match["times"]) if match["times"] else None
        if times == 0:
            raise ProfileError(f"invalid fault {spec!r}: xK needs K >= 1")
        if match["status"]:
            return cls("status", status=int(match["status"]), times=times)
        if match["kind"] == "drop":
            return cls("drop", after=int(match["after"]), times=times)
        if match["kind"] == "malformed":
            return cls("malformed", after=int(match["after"]), times=times)
        seconds = float(match["seconds"])
        return cls("stall", after=int(match["stall_after"]), seconds=seconds, times=times)

    def __str__(self) -> str:
        if self.kind == "status":
            spec = str(self.status)
        elif self.kind == "stall":
            spec = f"stall:{self.after}:{self.seconds:g}"
        else:
            spec = f"{self.kind}:{self.after}"
        return spec if self.times is None else f"{spec}x{self.times}"


@dataclass(frozen=True, slots=True)
class MockProfile:
    """Latency, length and faults for one mock reply. Delays are in milliseconds.

    >>> MockProfile.parse("mock@ttft=300,itl=20", {"x-mock-itl-ms": "5"})
    MockProfile(ttft_ms=300.0, itl_ms=5.0, jitter_ms=0, tokens=None, fault=None, reasoning=False)
    """

    ttft_ms: float = 0
    itl_ms: float = 0
    jitter_ms: float = 0
    tokens: int | None = None
    fault: Fault | None = None
    reasoning: bool = False

    @classmethod
    def parse(
        cls,
        model: str,
        headers: Mapping[str, str] | None = None,
        *,
        base: MockProfile | None = None,
    ) -> MockProfile:
        """Apply the model name's ``@settings`` and then ``x-mock-*`` headers onto ``base``."""
        _, _, suffix = model.partition("@")
        changes: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in suffix.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key.strip() not in _SETTINGS:
                raise ProfileError(
                    f"invalid mock setting {item!r} in model {model!r}:"
                    f" expected key=value with key in {', '.join(_SETTINGS)}"
                )
            key = key.strip()
            changes[_SETTINGS[key]] = _convert(_SETTINGS[key], value.strip(), key)
        if headers:
            lowered = {name.lower(): value for name, value in headers.items()}
            for header, field in _HEADERS.items():
                if header in lowered:
                    changes[field] = _convert(field, lowered[header].strip(), header)
        return replace(base or cls(), **changes)


def is_mock_model(model: str) -> bool:
    """``mock`` or ``mock-anything``, optionally followed by ``@settings``."""
    return _MODEL.match(model.partition("@")[0]) is not None


_SETTINGS = {
    "ttft": "ttft_ms",
    "itl": "itl_ms",
    "jitter": "jitter_ms",
    "tokens": "tokens",
    "fault": "fault",
    "reasoning": "reasoning",
}
_HEADERS = {
    "x-mock-ttft-ms": "ttft_ms",
    "x-mock-itl-ms": "itl_ms",
    "x-mock-jitter-ms": "jitter_ms",
    "x-mock-tokens": "tokens",
    "x-mock-fault": "fault",
    "x-mock-reasoning": "reasoning",
}


def _convert(field: str, value: str, source: str) -> Any:
    if field == "fault":
        return Fault.parse(value)
    if field == "reasoning":
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ProfileError(f"invalid {source} {value!r}: expected 1/0/true/false")
    if field == "tokens":
        if not value.isdigit() or int(value) > MAX_TOKENS:
            raise ProfileError(f"invalid {source} {value!r}: expected 0..{MAX_TOKENS}")
        return int(value)
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ProfileError(f"invalid {source} {value!r}: expected milliseconds >= 0")
    return number
