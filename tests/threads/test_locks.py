"""Thread claims in one process: a second holder is told who holds it; release frees it."""

from __future__ import annotations

from tokenwire.threads import LocalClaims


async def test_a_held_thread_names_its_holder_until_released() -> None:
    claims = LocalClaims()
    assert await claims.claim("", "t", "run-1") is None
    assert await claims.claim("", "t", "run-2") == "run-1"
    assert await claims.claim("", "other", "run-3") is None
    await claims.release("", "t", "run-2")  # not the holder: nothing happens
    assert claims.holder("", "t") == "run-1"
    await claims.release("", "t", "run-1")
    assert await claims.claim("", "t", "run-2") is None


async def test_take_over_replaces_only_the_named_holder() -> None:
    claims = LocalClaims()
    await claims.claim("", "t", "run-1")
    assert await claims.take_over("", "t", "run-9", "run-2") == "run-1"
    assert await claims.take_over("", "t", "run-1", "run-2") is None
    assert claims.holder("", "t") == "run-2"
