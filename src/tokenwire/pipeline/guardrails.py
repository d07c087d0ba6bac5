"""A route's guardrails: which guards run on its stream and which rules check its input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tokenwire import plain_json
from tokenwire.pipeline.findings import Action, Finding, Guard
from tokenwire.pipeline.guarded_sink import GuardMode
from tokenwire.pipeline.pii import PiiGuard
from tokenwire.pipeline.rules import DenyRule, no_code_blocks

__all__ = ["Guardrails"]


@dataclass(frozen=True, slots=True)
class Guardrails:
    """Guards on the output stream and deny rules on the input.

    >>> Guardrails(
    ...     guards=(PiiGuard(), no_code_blocks()),
    ...     input_rules=(DenyRule("jailbreak", "ignore (all|previous) instructions"),),
    ... )

    ``window``: characters held back before release (at least every guard's own window).
    ``mode``: ``holdback`` (default) or ``stream_first`` (audit only — fails open).
    """

    guards: tuple[Guard, ...] = ()
    input_rules: tuple[DenyRule, ...] = ()
    window: int | None = None
    mode: GuardMode = "holdback"

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
        no_code = true
        deny = [{ name = "competitors", keywords = ["acme"], action = "halt" }]
        input_deny = [{ name = "jailbreak", pattern = "ignore (all|previous) instructions" }]
        window = 128
        mode = "holdback"
        """
        known = {"pii", "no_code", "deny", "input_deny", "window", "mode"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ValueError(f"guardrails: unknown key(s) {unknown}")
        guards: list[Guard] = []
        pii = spec.get("pii", False)
        if pii:
            guards.append(PiiGuard(None if pii is True else set(pii)))
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
        )


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
