"""Offline PII and secret detection by pattern, with checksums where formats have them.

Every pattern's longest match is bounded (``MAX_MATCH``), which is what lets the hold-back
buffer release text safely: a span can never straddle text already shown.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from tokenwire.pipeline.findings import Action, Finding

__all__ = ["DETECTORS", "MAX_MATCH", "PiiGuard", "luhn_ok"]

MAX_MATCH = 120


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    rotated = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rotated)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


def _ip_ok(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


_DIGIT = re.compile(r"\d")
_SECRET_PREFIX = re.compile(r"sk-|AKIA|gh[pousr]_|xox[baprs]-|AIza|eyJ")


def _has(marker: str) -> Callable[[str], bool]:
    return lambda text: marker in text


def _search(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda text: pattern.search(text) is not None


@dataclass(frozen=True, slots=True)
class Detector:
    """``present`` is a cheap test (a character or prefix every match contains) that lets
    a scan skip the full pattern on text that cannot match — most prose has no ``@``.
    ``chars``: a character class holding every character a match can contain, and every
    character but the last that its look-ahead inspects; so a match that more text could
    still create, extend or cancel lies inside the text's trailing run of those characters
    (what ``PiiGuard.hold`` keeps back). A one-character look-ahead needs nothing: either
    the match ends the text (and is in the run) or the character it inspects is there."""

    rule: str
    label: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None = None
    present: Callable[[str], bool] = lambda text: True
    chars: str = r"\s\S"


_EMAIL = r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,32}@(?:[A-Za-z0-9-]{1,24}\.){1,3}[A-Za-z]{2,12}(?![\w-])"
_CARD = r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"
_IBAN = r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
_SSN = r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"
# Not in the middle of a longer digit sequence (a card that failed its checksum).
_PHONE = (
    r"(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])"
    r"\d{3,4}[ .-]?\d{3,4}(?!\w)(?![ .-]\d)"
)
_IPV4 = r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)"
_IPV6 = r"(?<![:\w])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![:\w])"
_SECRET = (
    r"(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,90}"
    r"|AKIA[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{36}"
    r"|xox[baprs]-[A-Za-z0-9-]{10,48}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,40}\.eyJ[A-Za-z0-9_-]{8,40}\.[A-Za-z0-9_-]{8,30})"
)

_PEM = r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----"
_digits = _search(_DIGIT)
# Order matters where formats overlap: the first detector to claim a span wins. In ``chars``,
# ``\d`` is Unicode, as in the patterns (a card number may use any script's digits).
DETECTORS: tuple[Detector, ...] = (
    Detector("pii.secret", "SECRET", re.compile(_SECRET), None, _search(_SECRET_PREFIX),
             r"A-Za-z0-9_.-"),
    Detector("pii.secret", "SECRET", re.compile(_PEM), None, _has("-----"), r"A-Z -"),
    Detector("pii.email", "EMAIL", re.compile(_EMAIL), None, _has("@"), r"A-Za-z0-9._%+@-"),
    Detector("pii.iban", "IBAN", re.compile(_IBAN), _iban_ok, _digits, r"A-Z\d "),
    Detector("pii.credit_card", "CARD", re.compile(_CARD), _card_ok, _digits, r"\d -"),
    Detector("pii.ssn", "SSN", re.compile(_SSN), _ssn_ok, _digits, r"\d-"),
    Detector("pii.ip", "IP", re.compile(_IPV4), _ip_ok, _digits, r"\d."),
    Detector("pii.ip", "IP", re.compile(_IPV6), _ip_ok, _has(":"), r"0-9A-Fa-f:"),
    Detector("pii.phone", "PHONE", re.compile(_PHONE), None, _digits, r"\d+(). -"),
)  # fmt: skip


def _valid_matches(detector: Detector, text: str, offset: int) -> Iterator[re.Match[str]]:
    """The detector's matches starting from ``offset`` (the look-behinds still see the
    context before it; a match starting earlier was settled by an earlier scan) that pass
    its checksum. After a failed checksum the search resumes one character later, not past
    the match: "254 4111-1111-…" fails Luhn, the card inside it must still be found."""
    pattern, valid = detector.pattern, detector.valid
    position = offset
    while (match := pattern.search(text, position)) is not None:
        if valid is None or valid(match.group()):
            yield match
            position = max(match.end(), match.start() + 1)
        else:
            position = match.start() + 1


class PiiGuard:
    """Redacts personal data and secrets as ``[EMAIL]``, ``[CARD]``, … (offline, regex).

    >>> PiiGuard(kinds={"pii.email"})  # only some detectors
    """

    name = "pii"
    window = MAX_MATCH

    def __init__(self, kinds: set[str] | None = None, action: Action = Action.REDACT) -> None:
        self._detectors = [d for d in DETECTORS if kinds is None or d.rule in kinds]
        self._action = action
        # Matched against the reversed tail: the length of its trailing run per class.
        classes = sorted({d.chars for d in self._detectors})
        self._runs = [re.compile(f"[{chars}]*") for chars in classes]

    def hold(self, text: str) -> int:
        """How many trailing characters a match could still grow into: the longest trailing
        run of any detector's characters (at most ``window``)."""
        tail = text[: -MAX_MATCH - 1 : -1]  # the last MAX_MATCH characters, reversed
        longest = 0
        for run in self._runs:
            found = run.match(tail)  # `[...]*` always matches, maybe empty
            if found is not None and found.end() > longest:
                longest = found.end()
        return longest

    def inspect(self, text: str, offset: int) -> Sequence[Finding]:
        findings: list[Finding] = []
        taken: list[tuple[int, int]] = []
        present: dict[Callable[[str], bool], bool] = {}  # five detectors share "has a digit"
        for detector in self._detectors:
            found = present.get(detector.present)
            if found is None:
                found = present[detector.present] = detector.present(text)
            if not found:
                continue
            for match in _valid_matches(detector, text, offset):
                start, end = match.span()
                if any(s < end and start < e for s, e in taken):
                    # Lost to an earlier detector's match — which more text may still undo
                    # (a longer digit run fails Luhn): keep it back, so its head is never
                    # released before the overlap is settled.
                    findings.append(Finding(Action.HOLD, detector.rule, start, end))
                    continue
                taken.append((start, end))
                findings.append(
                    Finding(
                        self._action,
                        detector.rule,
                        start,
                        end,
                        replacement=f"[{detector.label}]",
                        detail=f"{detector.label.lower()} redacted",
                    )
                )
        return findings
