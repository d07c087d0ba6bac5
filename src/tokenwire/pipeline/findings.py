"""What a guard reports about text it has seen."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["Action", "Finding", "Guard"]


class Action(StrEnum):
    """``redact`` replaces the span; ``block`` withholds everything not yet shown and ends
    the run ``blocked``; ``halt`` shows the text before the span, then ends it the same way.
    Both stop upstream generation at once."""

    REDACT = "redact"
    BLOCK = "block"
    HALT = "halt"


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
    and returns findings — synchronously, or as an awaitable for async classifiers.
    Allow = no findings. Guards must keep no per-stream state: one guard object serves
    every run at once.
    """

    name: str
    window: int

    def inspect(
        self, text: str, offset: int
    ) -> Sequence[Finding] | Awaitable[Sequence[Finding]]: ...
