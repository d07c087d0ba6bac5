"""The counting system of record the action tests create tickets in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.actions.crm import Crm
from tokenwire.testing import BackgroundServer


@pytest.fixture
def crm() -> Iterator[tuple[Crm, str]]:
    """The CRM and its URL."""
    crm = Crm()
    with BackgroundServer(crm.app) as server:
        yield crm, server.url
