"""The PII detectors: the formats they once missed, phone numbers validated by the
``phonenumbers`` library, and the same detectors masking whole values."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage

from tests.pipeline.test_holdback import NEW_FORMATS, Form, _chunks, _run, forms
from tokenwire.pipeline.guardrails import Guardrails
from tokenwire.pipeline.masking import Masking
from tokenwire.pipeline.pii import PiiGuard

LABELS = dict(zip(NEW_FORMATS, ("[PHONE]", "[PHONE]", "[CARD]", "[EMAIL]"), strict=True))


@forms
@pytest.mark.parametrize("size", range(1, 9))
@pytest.mark.parametrize("secret", NEW_FORMATS)
async def test_formats_once_missed_are_redacted_whatever_the_chunking(
    form: Form, secret: str, size: int
) -> None:
    text = f"Reach me at {secret}, today."
    events, _ = await _run(form, _chunks(text, size), [PiiGuard()])
    shown = "".join(str(d["text"]) for t, d in events if t == "token")
    assert shown == f"Reach me at {LABELS[secret]}, today."
    assert secret not in str(events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call 415-555-0134 2024 ok", "call [PHONE] 2024 ok"),  # a year after it
        ("2024 415-555-0134", "2024 [PHONE]"),  # not +1 202-441-5555: grouped otherwise
        ("4155550134 4155550199", "[PHONE] [PHONE]"),
        ("(415)555-0134 or (415) 555 0134", "[PHONE] or [PHONE]"),
        ("+1 415-555-0132 and +44 20 7946 0958", "[PHONE] and [PHONE]"),
        ("415 555 0134 24 hours a day", "[PHONE] 24 hours a day"),
        ("call 555-555-5555", "call 555-555-5555"),  # no such area code: not a number
        ("order 1234567 of 12 34 56 78 90", "order 1234567 of 12 34 56 78 90"),
        ("1 2 3 4 5 6 7 8 9 10 on 2024-01-02", "1 2 3 4 5 6 7 8 9 10 on 2024-01-02"),
        ("id 4155550134x", "id 4155550134x"),  # part of a word
    ],
)
def test_phone_numbers_are_what_phonenumbers_validates(text: str, expected: str) -> None:
    assert PiiGuard().redact(text) == expected


def test_national_numbers_of_other_regions_need_those_regions() -> None:
    assert PiiGuard().redact("ring 020 7946 0958") == "ring 020 7946 0958"
    assert PiiGuard(phone_regions=["gb"]).redact("ring 020 7946 0958") == "ring [PHONE]"
    assert PiiGuard().redact("ring +44 20 7946 0958") == "ring [PHONE]"  # + : any country
    with pytest.raises(ValueError, match="unknown phone region"):
        PiiGuard(phone_regions=["XX"])
    with pytest.raises(ValueError, match="unknown PII kind"):
        PiiGuard(kinds={"pii.emial"})


def test_prose_and_short_numbers_never_reach_the_phone_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    parse = phonenumbers.parse

    def counting(number: str, region: str | None = None, *args: Any) -> Any:
        calls.append(number)
        return parse(number, region, *args)

    monkeypatch.setattr(phonenumbers, "parse", counting)
    prose = "In 2024 we shipped 1,234 orders to 42 cities, 3 of them twice; v1.2 is out. " * 5
    assert PiiGuard().redact(prose) == prose
    assert calls == []
    assert PiiGuard().redact("call 415-555-0134") == "call [PHONE]"
    assert calls == ["415-555-0134"]


def test_whole_values_are_masked_at_every_string_leaf() -> None:
    masking = Masking(PiiGuard())
    value = {
        "to": "jane.doe@example.com",
        "jöhn.doe@example.com": {"cards": ("4111.1111.1111.1111", 42, True, None, 1.5)},
        "phone": 4155550134,
        "deep": [[["call +14155550134"]]],
    }
    assert masking.value(value) == {
        "to": "[EMAIL]",
        "[EMAIL]": {"cards": ["[CARD]", 42, True, None, 1.5]},
        "phone": "[PHONE]",
        "deep": [[["call [PHONE]"]]],
    }
    document = Document(page_content="mail jane.doe@example.com", metadata={"id": 7})
    assert masking.value([document, HumanMessage("or 4155550134")]) == [
        {"id": None, "metadata": {"id": 7}, "page_content": "mail [EMAIL]", "type": "Document"},
        {"type": "human", "content": "or [PHONE]"},
    ]


def test_masking_a_hostile_nesting_ends_instead_of_exhausting_the_stack() -> None:
    nested: Any = "jane.doe@example.com"
    for _ in range(5000):
        nested = [nested]
    masked = Masking(PiiGuard()).value(nested)
    assert "jane" not in repr(masked[0][0])
    looped: dict[str, Any] = {}
    looped["self"] = looped
    assert Masking(PiiGuard()).value(looped)["self"]["self"]


def test_the_policy_comes_from_the_pii_guard_or_the_route_config() -> None:
    derived = Guardrails(guards=(PiiGuard(kinds={"pii.email"}),)).masking
    assert derived is not None and derived.surfaces == {"output", "tool_io", "input"}
    assert derived.text("jane@example.com 4155550134") == "[EMAIL] 4155550134"
    assert Guardrails().masking is None

    rails = Guardrails.from_config({"pii": True, "mask": ["tool_io", "input"]})
    assert rails.guards == ()  # the answer is not masked: no PII guard on the stream
    assert rails.masking is not None and rails.masking.on("output") is None
    rails = Guardrails.from_config({"pii": ["pii.phone"], "phone_regions": ["GB"]})
    assert rails.masking is not None and rails.guards == (rails.masking.guard,)
    assert rails.masking.text("020 7946 0958") == "[PHONE]"


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"mask": ["output"]}, "need pii"),
        ({"pii": True, "mask": ["outputs"]}, "mask must list"),
        ({"pii": True, "mask": []}, "mask must list"),
        ({"pii": True, "mask": "output"}, "mask is a list"),
        ({"pii": True, "audit_input": "raw"}, "audit_input must be one of"),
        ({"pii": True, "mask": ["output"], "audit_input": "omit"}, 'needs "input"'),
        ({"pii": "yes"}, "pii is true or a list"),
        ({"pii": True, "phone_regions": "US"}, "phone_regions is a list"),
    ],
)
def test_bad_masking_config_is_a_clear_error(spec: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Guardrails.from_config(spec)
