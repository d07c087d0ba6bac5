"""A route's guardrails: which guards run on its stream and which rules check its input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tokenwire import plain_json
from tokenwire.pipeline.findings import Action, Finding, Guard
from tokenwire.pipeline.holdback import is_async
from tokenwire.pipeline.masking import AUDIT_INPUTS, SURFACES, Masking
from tokenwire.pipeline.pii import PHONE_REGIONS, PiiGuard
from tokenwire.pipeline.rules import DenyRule, no_code_blocks

__all__ = ["GuardMode", "Guardrails"]

GuardMode = Literal["holdback", "stream_first"]


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Guards on the output stream and deny rules on the input.

    >>> Guardrails(
    ...     guards=(PiiGuard(), no_code_blocks()),
    ...     input_rules=(DenyRule("jailbreak", "ignore (all|previous) instructions"),),
    ... )

    ``window``: characters held back before release (at least every guard's own window).
    ``mode``: ``holdback`` (default) or ``stream_first`` (audit only — fails open).
    ``masking``: where else the PII detectors mask what the run lets out (tool steps, the
    input as stored, traces, logs); by default, with a ``PiiGuard`` among the guards,
    everywhere with that guard's detectors.
    """

    guards: tuple[Guard, ...] = ()
    input_rules: tuple[DenyRule, ...] = ()
    window: int | None = None
    mode: GuardMode = "holdback"
    masking: Masking | None = None

    def __post_init__(self) -> None:
        if self.masking is None:
            pii = next((g for g in self.guards if isinstance(g, PiiGuard)), None)
            if pii is not None:
                object.__setattr__(self, "masking", Masking.of(pii))

    @property
    def synchronous(self) -> bool:
        """Whether every guard checks without awaiting (all the built-in ones do): then
        they run on the token path (``InlineGuards``), else in a worker (``GuardWorker``)."""
        return not any(is_async(guard) for guard in self.guards)

    def check_input(self, input: Any) -> Finding | None:
        """The first input rule the run's input breaks (input moderation), if any."""
        if not self.input_rules:
            return None
        text = input if isinstance(input, str) else plain_json.dumps(input).decode()
        for rule in self.input_rules:
            found = rule.inspect(text, 0)
            if found:
                return Finding(Action.BLOCK, rule.name, 0, 0, "", "the input was refused")
        return None

    @classmethod
    def from_config(cls, spec: Mapping[str, Any]) -> Guardrails:
        """From a ``[routes.NAME.guardrails]`` table::

        pii = true                      # or a list: ["pii.email", "pii.credit_card"]
        mask = ["output", "tool_io", "input"]   # where PII is masked (default: all three)
        audit_input = "masked"          # or "omit", or "encrypted" (needs audit_input_key)
        phone_regions = ["US"]          # national phone numbers of these regions too
        no_code = true
        deny = [{ name = "competitors", keywords = ["acme"], action = "halt" }]
        input_deny = [{ name = "jailbreak", pattern = "ignore (all|previous) instructions" }]
        window = 128
        mode = "holdback"
        """
        known = {"pii", "mask", "audit_input", "phone_regions", "no_code", "deny", "input_deny",
                 "window", "mode"}  # fmt: skip
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"guardrails: unknown key(s) {unknown}")
        guards: list[Guard] = []
        masking = _masking(spec)
        if masking is not None and masking.covers("output"):
            guards.append(masking.guard)
        if spec.get("no_code"):
            guards.append(no_code_blocks())
        guards += _rules(spec.get("deny", ()))
        mode = spec.get("mode", "holdback")
        if mode not in ("holdback", "stream_first"):
            raise ValueError(f"guardrails.mode must be holdback or stream_first, not {mode!r}")
        return cls(
            guards=tuple(guards),
            input_rules=tuple(_rules(spec.get("input_deny", ()))),
            window=spec.get("window"),
            mode=mode,
            masking=masking,
        )


def _masking(spec: Mapping[str, Any]) -> Masking | None:
    """The ``pii``, ``mask``, ``audit_input`` and ``phone_regions`` keys, as one policy."""
    pii = spec.get("pii", False)
    if not pii:
        extra = sorted({"mask", "audit_input", "phone_regions"} & set(spec))
        if extra:
            raise ValueError(f"guardrails: {extra} need pii")
        return None
    if pii is not True and not _strings(pii):
        raise ValueError("guardrails.pii is true or a list of PII kinds")
    surfaces = spec.get("mask", SURFACES)
    if not _strings(surfaces):
        raise ValueError(f"guardrails.mask is a list of {list(SURFACES)}")
    audit_input = spec.get("audit_input", "masked")
    if audit_input not in AUDIT_INPUTS:
        raise ValueError(f"guardrails.audit_input must be one of {list(AUDIT_INPUTS)}")
    if "audit_input" in spec and "input" not in surfaces:
        raise ValueError('guardrails.audit_input needs "input" in mask')
    regions = spec.get("phone_regions", PHONE_REGIONS)
    if not _strings(regions):
        raise ValueError("guardrails.phone_regions is a list of region codes like 'US'")
    guard = PiiGuard(None if pii is True else pii, phone_regions=regions)
    return Masking(guard, frozenset(surfaces), audit_input)


def _strings(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(item, str) for item in value)


def _rules(specs: Sequence[Mapping[str, Any]]) -> list[DenyRule]:
    rules = []
    for spec in specs:
        options = dict(spec)
        name = options.pop("name", None)
        if not name:
            raise ValueError("guardrails: every deny rule needs a name")
        if "action" in options:
            action = options["action"]
            if action not in (Action.BLOCK, Action.HALT):
                raise ValueError(f"guardrails: deny rule {name!r}: action is block or halt")
            options["action"] = Action(action)
        rules.append(DenyRule(name, **options))
    return rules
