"""Offline PII and secret detection by pattern, with checksums where formats have them and
the ``phonenumbers`` library for phone numbers.

Every pattern's longest match is bounded (``MAX_MATCH``), which is what lets the hold-back
buffer release text safely: a span can never straddle text already shown. The same
detectors mask whole values (:meth:`PiiGuard.redact`) wherever else text leaves the gateway.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from tokenwire.pipeline import phones
from tokenwire.pipeline.findings import Action, Finding, redact

__all__ = ["DETECTORS", "KINDS", "MAX_MATCH", "PiiGuard", "luhn_ok"]

MAX_MATCH = 120


def luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _whole(check: Callable[[str], bool]) -> Callable[[str], int]:
    """A check of a whole match, as a ``Detector.accept``."""
    return lambda text: len(text) if check(text) else 0


@_whole
def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


@_whole
def _iban_ok(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    rotated = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rotated)
    return 15 <= len(compact) <= 34 and int(number) % 97 == 1


@_whole
def _ssn_ok(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in {"000", "666"} and area[0] != "9" and group != "00" and serial != "0000"


@_whole
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
    """``accept``: how much of a match is the real thing — its whole length when a checksum
    passes, a leading part of it (a phone number followed by a year), or 0; None accepts
    every match. ``present`` is a cheap test (a character or prefix every match contains)
    that lets a scan skip the full pattern on text that cannot match — most prose has no
    ``@``.
    ``chars``: a character class holding every character a match can contain, and every
    character but the last that its look-ahead inspects; so a match that more text could
    still create, extend or cancel lies inside the text's trailing run of those characters
    (what ``PiiGuard.hold`` keeps back). A one-character look-ahead needs nothing: either
    the match ends the text (and is in the run) or the character it inspects is there."""

    rule: str
    label: str
    pattern: re.Pattern[str]
    accept: Callable[[str], int] | None = None
    present: Callable[[str], bool] = lambda text: True
    chars: str = r"\s\S"


# Any script's letters and digits (``\w`` is Unicode): "jöhn.doe@exämple.com" is an address.
_EMAIL = r"(?<![\w.+-])[\w.%+-]{1,32}@(?:[\w-]{1,24}\.){1,3}[^\W\d_]{2,12}(?![\w-])"
# Groups joined by spaces, hyphens or dots; never inside a longer dotted number.
_CARD = r"(?<![\d-])(?<!\d\.)\d(?:[ .-]?\d){12,18}(?![\d-])(?!\.\d)"
_IBAN = r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])"
_SSN = r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"
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
#: Regions whose national phone numbers (without ``+``) are recognised by default.
PHONE_REGIONS = ("US",)


def _phone_in(regions: Sequence[str]) -> Callable[[str], int]:
    return lambda text: phones.phone_prefix(text, regions)


_digits = _search(_DIGIT)
# Order matters where formats overlap: the first detector to claim a span wins. In ``chars``,
# ``\d`` is Unicode, as in the patterns (a card number may use any script's digits).
DETECTORS: tuple[Detector, ...] = (
    Detector("pii.secret", "SECRET", re.compile(_SECRET), None, _search(_SECRET_PREFIX),
             r"A-Za-z0-9_.-"),
    Detector("pii.secret", "SECRET", re.compile(_PEM), None, _has("-----"), r"A-Z -"),
    Detector("pii.email", "EMAIL", re.compile(_EMAIL), None, _has("@"), r"\w.%+@-"),
    Detector("pii.iban", "IBAN", re.compile(_IBAN), _iban_ok, _digits, r"A-Z\d "),
    Detector("pii.credit_card", "CARD", re.compile(_CARD), _card_ok, _digits, r"\d .-"),
    Detector("pii.ssn", "SSN", re.compile(_SSN), _ssn_ok, _digits, r"\d-"),
    Detector("pii.ip", "IP", re.compile(_IPV4), _ip_ok, _digits, r"\d."),
    Detector("pii.ip", "IP", re.compile(_IPV6), _ip_ok, _has(":"), r"0-9A-Fa-f:"),
    Detector("pii.phone", "PHONE", re.compile(phones.CANDIDATE), _phone_in(PHONE_REGIONS),
             _digits, phones.CHARS),
)  # fmt: skip
#: Every detector's rule name: what ``pii = [...]`` may list.
KINDS = frozenset(d.rule for d in DETECTORS)


def _accepted(
    detector: Detector,
    accept: Callable[[str], int] | None,
    text: str,
    offset: int,
    taken: list[tuple[int, int]],
) -> Iterator[tuple[int, int]]:
    """Spans of the detector's matches starting from ``offset`` (the look-behinds still see
    the context before it; a match starting earlier was settled by an earlier scan), as far
    as ``accept`` takes them. After a rejected match the search resumes one character
    later, not past it: "254 4111-1111-…" fails Luhn, the card inside it must still be
    found. A match inside a span an earlier detector ``taken`` is not checked: whatever it
    is, that span hides it (the groups of a card are no phone numbers to validate)."""
    pattern = detector.pattern
    position = offset
    while (match := pattern.search(text, position)) is not None:
        start, end = match.span()
        if accept is not None and any(s <= start and end <= e for s, e in taken):
            position = start + 1
            continue
        length = len(match.group()) if accept is None else accept(match.group())
        if length:
            yield start, start + length
            position = max(start + length, start + 1)
        else:
            position = start + 1


class PiiGuard:
    """Redacts personal data and secrets as ``[EMAIL]``, ``[CARD]``, … (offline).

    >>> PiiGuard(kinds={"pii.email"})  # only some detectors
    >>> PiiGuard(phone_regions=("US", "GB"))  # national numbers of these regions too

    ``phone_regions``: where a phone number written without ``+`` may be from (a number with
    ``+`` is recognised for any country).
    """

    name = "pii"
    window = MAX_MATCH

    def __init__(
        self,
        kinds: Iterable[str] | None = None,
        action: Action = Action.REDACT,
        phone_regions: Sequence[str] = PHONE_REGIONS,
    ) -> None:
        chosen = None if kinds is None else frozenset(kinds)
        unknown = sorted((chosen or KINDS) - KINDS)
        if unknown:
            raise ValueError(f"unknown PII kind(s) {unknown}; known: {sorted(KINDS)}")
        #: The detectors' rule names (None: all of them).
        self.kinds = chosen
        self.phone_regions = phones.regions(phone_regions)
        self._detectors = [d for d in DETECTORS if chosen is None or d.rule in chosen]
        self._action = action
        phone = _phone_in(self.phone_regions) if self.phone_regions != PHONE_REGIONS else None
        self._accept = [
            phone if phone is not None and d.rule == "pii.phone" else d.accept
            for d in self._detectors
        ]
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

    def redact(self, text: str) -> str:
        """``text`` with every match replaced, exactly as a stream of it would show it."""
        findings = self._find(text, 0, Action.REDACT)
        return redact(text, 0, len(text), findings)[0] if findings else text

    def inspect(self, text: str, offset: int) -> Sequence[Finding]:
        return self._find(text, offset, self._action)

    def _find(self, text: str, offset: int, action: Action) -> list[Finding]:
        findings: list[Finding] = []
        taken: list[tuple[int, int]] = []
        present: dict[Callable[[str], bool], bool] = {}  # five detectors share "has a digit"
        for detector, accept in zip(self._detectors, self._accept, strict=True):
            found = present.get(detector.present)
            if found is None:
                found = present[detector.present] = detector.present(text)
            if not found:
                continue
            for start, end in _accepted(detector, accept, text, offset, taken):
                if any(s < end and start < e for s, e in taken):
                    # Lost to an earlier detector's match — which more text may still undo
                    # (a longer digit run fails Luhn): keep it back, so its head is never
                    # released before the overlap is settled.
                    findings.append(Finding(Action.HOLD, detector.rule, start, end))
                    continue
                taken.append((start, end))
                findings.append(
                    Finding(
                        action,
                        detector.rule,
                        start,
                        end,
                        replacement=f"[{detector.label}]",
                        detail=f"{detector.label.lower()} redacted",
                    )
                )
        return findings
