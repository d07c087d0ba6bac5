"""Deny rules: regular expressions and keyword lists that block or halt a stream."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from tokenwire.pipeline.findings import Action, Finding

__all__ = ["DenyRule", "no_code_blocks"]


class DenyRule:
    """Stops the stream when ``pattern`` (or any of ``keywords``, whole words, any case)
    appears. ``window`` must cover the longest text the pattern can match (64 by default;
    for keywords alone, the longest keyword and the character after it).

    >>> DenyRule("competitors", keywords=["acme corp"], action=Action.HALT)
    """

    window: int

    def __init__(
        self,
        name: str,
        pattern: str | None = None,
        *,
        keywords: Iterable[str] = (),
        action: Action = Action.BLOCK,
        window: int | None = None,
        detail: str | None = None,
    ) -> None:
        keywords = list(keywords)
        parts = [pattern] if pattern else []
        parts += [rf"\b{re.escape(k)}\b" for k in keywords]
        if not parts:
            raise ValueError(f"deny rule {name!r} needs a pattern or keywords")
        self.name = name
        self._pattern = re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)
        self._action = action
        if window is None:
            window = 64 if pattern else max(len(k) for k in keywords) + 1
        self.window = window
        self._detail = detail or f"deny rule {name!r} matched"

    def inspect(self, text: str, offset: int) -> Sequence[Finding]:
        for match in self._pattern.finditer(text, offset):
            return [Finding(self._action, self.name, match.start(), match.end(), "", self._detail)]
        return []

    def matches(self, text: str) -> bool:
        return self._pattern.search(text) is not None


def no_code_blocks(action: Action = Action.BLOCK) -> DenyRule:
    """For a support chat that must not emit code: a fenced block or an HTML/script tag."""
    return DenyRule(
        "no_code",
        r"```|<script\b|<\?php",
        action=action,
        window=8,
        detail="code is not allowed in this chat",
    )
