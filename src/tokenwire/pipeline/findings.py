"""What a guard reports about text it has seen."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["Action", "Finding", "Guard", "redact"]


class Action(StrEnum):
    """``redact`` replaces the span; ``block`` withholds everything not yet shown and ends
    the run ``blocked``; ``halt`` shows the text before the span, then ends it the same way.
    Both stop upstream generation at once."""

    REDACT = "redact"
    BLOCK = "block"
    HALT = "halt"
    #: Not a decision: a span the guard may still decide about once more text arrives (a
    #: match that lost to an overlapping one that may yet vanish). Nothing inside it is
    #: released meanwhile; it is never applied or reported.
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Finding:
    """A span of the inspected text and what to do about it.

    ``detail`` is shown to clients in the ``guardrail`` event: it must describe the rule,
    never repeat the hidden text.
    """

    action: Action
    rule: str
    start: int
    end: int
    replacement: str = ""
    detail: str = ""


class Guard(Protocol):
    """A check on the token stream, called on batches of held-back text.

    ``window``: how many characters of right-context the guard needs to decide about a
    span (the longest text it can match). ``inspect`` gets the held text (with a little
    already-released left-context before ``offset``; ignore findings that start before it)
    and returns findings — synchronously, or, declared ``async def``, as a coroutine (an async
    classifier: the guards then run in a worker task). A guard that raises fails the run.
    Allow = no findings. Guards must keep no per-stream state: one guard object serves
    every run at once.

    Optionally a guard has ``hold(text) -> int``: how many trailing characters of ``text`` a
    match could still grow into (0 to ``window``); text before them is released at once.
    Without it the whole ``window`` is held.
    """

    name: str
    window: int

    def inspect(
        self, text: str, offset: int
    ) -> Sequence[Finding] | Awaitable[Sequence[Finding]]: ...


def redact(
    text: str, start: int, end: int, findings: Sequence[Finding]
) -> tuple[str, list[Finding]]:
    """``text[start:end]`` with every ``redact`` finding in it replaced, and those findings.

    Overlapping spans: the one starting first (the longer, on a tie) wins. A span reaching
    back before ``start`` (into text already shown) still hides its part after it."""
    spans = sorted(
        (f for f in findings if f.action is Action.REDACT and f.start < end),
        key=lambda f: (f.start, -f.end),
    )
    pieces: list[str] = []
    applied: list[Finding] = []
    position = start
    for finding in spans:
        at = max(finding.start, start)
        if at < position:  # overlaps a span already applied
            continue
        pieces.append(text[position:at])
        pieces.append(finding.replacement)
        applied.append(finding)
        position = min(finding.end, end)
    pieces.append(text[position:end])
    return "".join(pieces), applied
