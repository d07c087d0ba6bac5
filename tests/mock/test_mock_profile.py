from __future__ import annotations

import pytest

import tokenwire.mock
from tokenwire.mock import Fault, MockProfile, ProfileError
from tokenwire.mock.profile import is_mock_model


def test_public_api_is_sorted_and_complete() -> None:
    exported = tokenwire.mock.__all__
    assert exported == sorted(exported)
    public = {name for name in vars(tokenwire.mock) if not name.startswith("_")}
    modules = {"app", "ledger", "playback", "profile", "script", "streaming", "syntax", "wire"}
    assert public - modules == set(exported)


def test_plain_model_gives_the_default_profile() -> None:
    assert MockProfile.parse("mock", {}) == MockProfile()
    assert MockProfile.parse("mock-fast", {}) == MockProfile()


def test_model_suffix_sets_everything() -> None:
    profile = MockProfile.parse(
        "mock@ttft=300,itl=20,jitter=5,tokens=40,fault=drop:5,reasoning=1", {}
    )
    assert profile == MockProfile(
        ttft_ms=300, itl_ms=20, jitter_ms=5, tokens=40, fault=Fault("drop", after=5), reasoning=True
    )


def test_headers_win_over_model_and_model_over_base() -> None:
    base = MockProfile(ttft_ms=1, itl_ms=2, jitter_ms=3)
    headers = {"X-Mock-ITL-ms": "7", "x-mock-fault": "429x2", "x-mock-reasoning": "true"}
    profile = MockProfile.parse("mock@ttft=100,itl=50", headers, base=base)
    assert profile == MockProfile(
        ttft_ms=100,
        itl_ms=7,
        jitter_ms=3,
        fault=Fault("status", status=429, times=2),
        reasoning=True,
    )


def test_fault_none_clears_a_default_fault() -> None:
    base = MockProfile(fault=Fault("status", status=500))
    assert MockProfile.parse("mock", {"x-mock-fault": "none"}, base=base).fault is None


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("429", Fault("status", status=429)),
        ("500x3", Fault("status", status=500, times=3)),
        ("drop:5", Fault("drop", after=5)),
        ("stall:3:0.5", Fault("stall", after=3, seconds=0.5)),
        ("stall:0:2x1", Fault("stall", after=0, seconds=2, times=1)),
        ("malformed:4", Fault("malformed", after=4)),
    ],
)
def test_fault_specs_parse_and_print_back(spec: str, fault: Fault) -> None:
    assert Fault.parse(spec) == fault
    assert str(fault) == spec


@pytest.mark.parametrize(
    ("model", "headers"),
    [
        ("mock@ttft=-1", {}),
        ("mock@itl=fast", {}),
        ("mock@tokens=2.5", {}),
        ("mock@speed=1", {}),
        ("mock@ttft", {}),
        ("mock@fault=drop", {}),
        ("mock@fault=429x0", {}),
        ("mock@fault=200", {}),
        ("mock@reasoning=maybe", {}),
        ("mock", {"x-mock-tokens": "-3"}),
        ("mock", {"x-mock-itl-ms": "nan"}),
    ],
)
def test_bad_settings_are_rejected(model: str, headers: dict[str, str]) -> None:
    with pytest.raises(ProfileError):
        MockProfile.parse(model, headers)


def test_mock_model_names() -> None:
    assert is_mock_model("mock")
    assert is_mock_model("mock-gpt-4o@itl=3")
    assert not is_mock_model("gpt-4o")
    assert not is_mock_model("mockingbird")
