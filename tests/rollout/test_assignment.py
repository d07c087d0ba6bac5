"""Sticky assignment: a hash of the sticky value and the route, the same in every process."""

from __future__ import annotations

import subprocess
import sys

from tokenwire.rollout import RolloutPolicy, Rollouts
from tokenwire.rollout.assignment import bucket, pick_variant, sticky_value


def _rollouts(**keys: object) -> Rollouts:
    return Rollouts({"chat": RolloutPolicy.model_validate(keys)}, clock=lambda: 0.0)


def test_the_split_over_1000_keys_is_within_5_percent_and_sticky() -> None:
    rollouts = _rollouts(variants=[{"name": "canary", "percent": 30}], streaming_percent=60)
    keys = [f"user-{n}" for n in range(1000)]
    first = {key: rollouts.assign("chat", key=key) for key in keys}
    canary = sum(1 for a in first.values() if a.variant == "canary")
    streamed = sum(1 for a in first.values() if a.cohort == "stream")
    assert abs(canary - 300) <= 50, canary
    assert abs(streamed - 600) <= 50, streamed
    assert all(rollouts.assign("chat", key=key) == first[key] for key in keys)


def test_variant_and_mode_are_drawn_independently() -> None:
    rollouts = _rollouts(variants=[{"name": "canary", "percent": 50}], streaming_percent=50)
    assigned = [rollouts.assign("chat", key=f"k{n}") for n in range(1000)]
    both = sum(1 for a in assigned if a.variant == "canary" and a.cohort == "stream")
    assert abs(both - 250) <= 50, both


def test_the_hash_is_the_same_in_another_process() -> None:
    # Python's hash() of a str changes with every interpreter (PYTHONHASHSEED): this is not it.
    code = (
        "from tokenwire.rollout.assignment import bucket; print(bucket('alice', 'chat', 'variant'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(other.stdout) == bucket("alice", "chat", "variant")


def test_sticky_values() -> None:
    headers = {"x-user": "u1"}
    assert sticky_value("header:X-User", key=None, thread_id=None, headers=headers) == "u1"
    assert sticky_value("thread", key="k", thread_id="t", headers={}) == "t"
    assert sticky_value("key", key="k", thread_id="t", headers={}) == "k"
    # Nothing to go by: each request is drawn on its own.
    drawn = {sticky_value("key", key=None, thread_id=None, headers={}) for _ in range(20)}
    assert len(drawn) == 20


def test_pick_variant_leaves_the_rest_to_stable() -> None:
    shares = [("a", 10.0), ("b", 20.0)]
    assert [pick_variant(p, shares) for p in (0, 9.99, 10, 29.99, 30, 99.99)] == [
        "a", "a", "b", "b", "stable", "stable",
    ]  # fmt: skip


def test_a_route_without_a_rollout_is_stable_and_streamed() -> None:
    assigned = _rollouts().assign("other", key="k")
    assert (assigned.variant, assigned.cohort, assigned.shadow) == ("stable", "stream", False)
