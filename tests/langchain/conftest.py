from __future__ import annotations

import pytest

from tests.langchain.recording import RecordingSink


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()
