"""Phone numbers: a cheap pattern finds digit groups, the ``phonenumbers`` library decides.

The pattern (``CANDIDATE``) matches up to five groups of digits joined by single separators
(``+1 415-555-0134``, ``(415) 555 0134``, ``4155550134``); only a candidate with enough
digits for a phone number reaches the library, so prose and short numbers cost one regex
scan. A candidate is a phone number when a leading part of it, ending at a group boundary,
is a valid number for its country code (``+…``) or for one of the guard's regions, written
with its separators where the number's own format puts them: "2024 415-555" is not
+1 202-441-5555, "415-555-0134 2024" is 415-555-0134 followed by a year.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

__all__ = ["CANDIDATE", "CHARS", "phone_prefix", "regions"]

#: A candidate starts a group (never inside a word, after a ``+`` or a ``(``) that seven
#: digits follow closely (the look-ahead: most numbers in prose are shorter); groups are
#: possessive, so a digit run longer than 15 is never one. At most 5 groups of up to 17
#: characters: a candidate is never longer than 85 characters (``pii.MAX_MATCH``).
CANDIDATE = (
    r"(?<![\w+(])(?=[+(]?(?:[ .()-]{0,2}\d){7})(?:\+\d{1,15}+|\(\d{1,5}\)|\d{1,15}+)"
    r"(?:[ .-]?\(\d{1,5}\)|(?<=\))\d{1,15}+|[ .-]\d{1,15}+){0,4}"
    r"(?!\w)"
)
#: Every character a candidate can hold (what the hold-back keeps at the end of the text).
CHARS = r"\d+(). -"

#: E.164 has at most 15 digits; an international or trunk prefix may add two more.
_MIN_DIGITS, _MAX_DIGITS = 7, 17
_NOT_DIGITS = "+() .-"  # what a candidate holds besides digits
_GROUP = re.compile(r"\+?\d+|\(\d+\)")
_DIGITS = re.compile(r"\d+")


def regions(names: Sequence[str]) -> tuple[str, ...]:
    """Region codes (``"US"``, ``"GB"``), checked: an unknown one would never match."""
    chosen = tuple(name.upper() for name in names)
    unknown = sorted(set(chosen) - phonenumbers.SUPPORTED_REGIONS)
    if unknown:
        raise ValueError(f"unknown phone region(s) {unknown}: use ISO 3166 codes like 'US'")
    return chosen


def phone_prefix(candidate: str, regions: Sequence[str]) -> int:
    """The length of the longest phone number ``candidate`` starts with (0: none)."""
    if len(candidate) - sum(map(candidate.count, _NOT_DIGITS)) < _MIN_DIGITS:
        return 0  # most candidates: a year, a count, an amount
    ends: list[tuple[int, int]] = []  # (end of a group, digits up to it)
    digits = 0
    for group in _GROUP.finditer(candidate):
        digits += sum(ch.isdigit() for ch in group.group())
        ends.append((group.end(), digits))
    for end, count in reversed(ends):
        if _MIN_DIGITS <= count <= _MAX_DIGITS and _is_phone(candidate[:end], regions):
            return end
    return 0


def _is_phone(text: str, regions: Sequence[str]) -> bool:
    international = text.startswith("+")
    digits = None if international else phonenumbers.normalize_digits_only(text)
    for region in (None,) if international else regions:
        if digits is not None and not _may_be_national(digits, region):
            continue  # the library's parse and validation cost tens of microseconds
        try:
            number = phonenumbers.parse(text, region)
        except NumberParseException:
            continue
        if (
            phonenumbers.is_possible_number(number)
            and _valid(number, region)
            and _grouped_as_formatted(text, number)
        ):
            return True
    return False


def _valid(number: PhoneNumber, region: str | None) -> bool:
    """``phonenumbers.is_valid_number``, asking the likeliest region first: the full check
    tries every region sharing the country code (two dozen for +1)."""
    likely = region or phonenumbers.region_code_for_country_code(number.country_code or 0)
    return phonenumbers.is_valid_number_for_region(number, likely) or (
        phonenumbers.is_valid_number(number)
    )


def _may_be_national(digits: str, region: str | None) -> bool:
    """Whether ``digits`` has a length the region's numbers can have (with or without its
    trunk prefix) or starts with its international call prefix."""
    lengths, international_prefix = _lengths_of(region or "")
    return len(digits) in lengths or (
        international_prefix is not None and international_prefix.match(digits) is not None
    )


@functools.cache
def _lengths_of(region: str) -> tuple[frozenset[int], re.Pattern[str] | None]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    described = None if metadata is None else metadata.general_desc
    if metadata is None or described is None or not described.possible_length:
        return frozenset(range(_MIN_DIGITS, _MAX_DIGITS + 1)), None  # let the library decide
    lengths = set(described.possible_length)
    trunk = len(metadata.national_prefix or "")
    lengths |= {length + trunk for length in lengths}
    prefix = metadata.international_prefix
    return frozenset(lengths), re.compile(prefix) if prefix else None


def _grouped_as_formatted(text: str, number: PhoneNumber) -> bool:
    """Whether every separator in ``text`` falls between two of the number's own groups
    (as ``phonenumbers``' strict-grouping leniency asks); digits written together are fine."""
    written = _DIGITS.findall(text)
    if len(written) == 1:
        return True
    national = phonenumbers.national_significant_number(number)
    prefix = sum(map(len, written)) - len(national)  # country code, IDD or trunk prefix
    if prefix < 0:
        return False
    formatted = _DIGITS.findall(phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL))
    allowed = _boundaries(formatted[1:])  # its groups after the country code
    return all(at <= 0 or at in allowed for at in (end - prefix for end in _boundaries(written)))


def _boundaries(groups: Sequence[str]) -> set[int]:
    """Where one group ends and the next begins, as digit offsets."""
    ends, at = set(), 0
    for group in groups[:-1]:
        at += len(group)
        ends.add(at)
    return ends
