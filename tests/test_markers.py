"""The unit / integration split (tests/conftest.py) classifies tests by what they use."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest


def _marks(request: pytest.FixtureRequest) -> set[str]:
    return {m.name for m in request.node.iter_markers()} & {"unit", "integration"}


def test_a_test_with_nothing_live_is_unit(request: pytest.FixtureRequest) -> None:
    assert _marks(request) == {"unit"}


def test_a_test_on_a_live_gateway_is_integration(
    request: pytest.FixtureRequest, serve: Callable[..., httpx.Client]
) -> None:
    assert _marks(request) == {"integration"}


def test_a_test_reaching_the_provider_through_a_fixture_is_integration(
    request: pytest.FixtureRequest, mock_url: str
) -> None:
    assert _marks(request) == {"integration"}
