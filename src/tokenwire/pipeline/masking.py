"""One route's PII masking policy, applied wherever text leaves the gateway.

The PII guard masks the answer while it streams (the hold-back buffer); everything else a
run lets out is masked whole by the same detectors (:meth:`PiiGuard.redact`): tool
arguments, outputs and errors, retrieved documents, the request input and metadata as
snapshots, the audit trail, the action ledger (``tokenwire.actions.protection``) and
LangSmith traces keep them, error messages and the log lines written while the run works.
Which of them is the route's choice (``mask``); everything by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tokenwire.langchain.output import to_jsonable
from tokenwire.pipeline.masked_tracing import MaskedTracing
from tokenwire.pipeline.pii import PiiGuard

__all__ = ["AUDIT_INPUTS", "SURFACES", "AuditInput", "Masking", "Surface", "shown_input"]

#: ``output``: the answer as it streams, and the run's output; ``tool_io``: tool arguments,
#: outputs and errors, retrieved documents; ``input``: the request input and metadata
#: wherever the gateway keeps or shows them (run snapshots, the audit trail). A custom
#: event's data (``get_stream_writer()``, ``adispatch_custom_event``) may be either the answer
#: or a step's data, so it is masked when ``output`` or ``tool_io`` is.
Surface = Literal["output", "tool_io", "input"]
SURFACES: tuple[Surface, ...] = get_args(Surface)
#: What the audit trail keeps of a masked input: the masked input, nothing, or the masked
#: input plus the raw input encrypted with ``audit_input_key`` (Fernet).
AuditInput = Literal["masked", "omit", "encrypted"]
AUDIT_INPUTS: tuple[AuditInput, ...] = get_args(AuditInput)

#: Nesting deeper than this is replaced, not walked (a hostile input must not exhaust the
#: stack of whoever masks it).
_MAX_DEPTH = 64
_TOO_DEEP = "[nested too deep]"
#: Integers below this have too few digits to be a card or a phone number.
_SMALLEST_SECRET_NUMBER = 1_000_000


@dataclass(frozen=True, slots=True)
class Masking:
    """Which surfaces of a route's runs are masked, and with what detectors.

    >>> Masking(PiiGuard(), surfaces=frozenset({"output", "tool_io"}))
    >>> masking.value({"to": "jane@example.com", "n": [4155550134]})
    {'to': '[EMAIL]', 'n': ['[PHONE]']}
    """

    guard: PiiGuard = field(default_factory=PiiGuard)
    surfaces: frozenset[Surface] = frozenset(SURFACES)
    audit_input: AuditInput = "masked"
    #: LangSmith tracing of this route's runs, through a client that masks (made once).
    tracing: MaskedTracing = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.surfaces) - set(SURFACES))
        if unknown or not self.surfaces:
            raise ValueError(f"mask must list some of {list(SURFACES)}, not {unknown or []}")
        if self.audit_input not in AUDIT_INPUTS:
            raise ValueError(f"audit_input must be one of {list(AUDIT_INPUTS)}")
        object.__setattr__(self, "tracing", MaskedTracing(self.value))

    @classmethod
    def of(cls, guard: PiiGuard, surfaces: Iterable[Surface] = SURFACES) -> Masking:
        """The policy that masks with ``guard``'s detectors (always redacting, whatever the
        guard's own action on the stream)."""
        return cls(PiiGuard(guard.kinds, phone_regions=guard.phone_regions), frozenset(surfaces))

    def covers(self, surface: Surface) -> bool:
        return surface in self.surfaces

    def text(self, text: str) -> str:
        return self.guard.redact(text)

    def value(self, value: Any) -> Any:
        """``value`` with every string in it masked — mapping keys, and integers long
        enough to be a card or a phone number, included. Anything but JSON's types is
        masked in its JSON form (``to_jsonable``)."""
        return _masked(value, self.guard.redact, 0)

    def on(self, surface: Surface) -> Callable[[Any], Any] | None:
        """What masks ``surface``'s values, or None when the route leaves it in clear."""
        return self.value if surface in self.surfaces else None

    def on_custom_events(self) -> Callable[[Any], Any] | None:
        """What masks custom events: masked with the answer or with the tool steps."""
        return self.value if {"output", "tool_io"} & self.surfaces else None


def shown_input(masking: Masking | None, value: Any) -> Any:
    """The request input (or metadata) as the gateway may keep or show it."""
    return value if masking is None or not masking.covers("input") else masking.value(value)


def _masked(value: Any, redact: Callable[[str], str], depth: int) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        if abs(value) < _SMALLEST_SECRET_NUMBER:
            return value
        digits = str(value)
        masked = redact(digits)
        return value if masked == digits else masked
    if depth >= _MAX_DEPTH:
        return _TOO_DEEP
    if isinstance(value, Mapping):
        return {
            redact(k) if isinstance(k, str) else k: _masked(v, redact, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(item, redact, depth + 1) for item in value]
    return _masked(to_jsonable(value), redact, depth + 1)
