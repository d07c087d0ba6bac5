"""Per-thread locks: a second holder is refused with the live run's id; release frees it."""

from __future__ import annotations

import pytest

from tokenwire.threads import ThreadBusy, ThreadLocks


async def test_second_run_of_a_thread_is_refused_until_the_first_ends() -> None:
    locks = ThreadLocks()
    async with locks.hold("t", "run-1"):
        assert locks.holder("t") == "run-1"
        with pytest.raises(ThreadBusy) as busy:
            async with locks.hold("t", "run-2"):
                pass
        assert busy.value.run_id == "run-1"
        async with locks.hold("other", "run-3"):
            assert locks.holder("other") == "run-3"
    assert locks.holder("t") is None
    async with locks.hold("t", "run-2"):
        assert locks.holder("t") == "run-2"
