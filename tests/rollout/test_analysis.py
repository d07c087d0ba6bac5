"""The analysis on a scripted clock: rollbacks, steps, promotion, the streaming guard."""

from __future__ import annotations

from typing import Any

from tokenwire.rollout import Outcome, RolloutPolicy, Rollouts, Transition
from tokenwire.rollout.store import MemoryStore

OK = Outcome("completed", ttft_s=0.1, itl_p95_s=0.01, cost_usd=0.001)
FAILED = Outcome("failed", error_code="upstream_error")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _rollouts(
    clock: Clock, store: MemoryStore | None = None, **keys: Any
) -> tuple[Rollouts, list[Transition]]:
    keys.setdefault("variants", [{"name": "canary", "percent": 50}])
    keys.setdefault("analysis", {"min_runs": 5, "window_seconds": 60})
    seen: list[Transition] = []
    rollouts = Rollouts(
        {"chat": RolloutPolicy.model_validate(keys)},
        store,
        clock=clock,
        on_transition=seen.append,
    )
    return rollouts, seen


async def _feed(
    rollouts: Rollouts, variant: str, outcome: Outcome, n: int, cohort: str = "stream"
) -> None:
    for _ in range(n):
        rollouts.observe("chat", variant, cohort, outcome)
    await rollouts.settle()


async def test_a_failing_canary_is_rolled_back_once_it_has_min_runs() -> None:
    clock = Clock()
    rollouts, seen = _rollouts(clock)
    await rollouts.start()
    await _feed(rollouts, "canary", FAILED, 4)
    assert seen == []  # not judged before min_runs
    await _feed(rollouts, "canary", FAILED, 1)
    (change,) = seen
    assert (change.variant, change.before, change.after, change.percent_after) == (
        "canary", "progressing", "rolled_back", 0.0,
    )  # fmt: skip
    view = await rollouts.view("chat")
    canary = view["variants"][1]
    assert view["state"] == "rolled_back" and canary["state"] == "rolled_back"
    assert canary["decided_by"]["breaches"][0]["metric"] == "error_rate"
    assert canary["decided_by"]["variant"]["error_rate"] == 1.0
    assert view["variants"][0] == {**view["variants"][0], "name": "stable", "percent": 100.0}
    assert all(rollouts.assign("chat", key=f"k{n}").variant == "stable" for n in range(200))
    await rollouts.aclose()


async def test_user_cancels_are_not_errors() -> None:
    clock = Clock()
    rollouts, seen = _rollouts(clock)
    await _feed(rollouts, "canary", Outcome("cancelled", error_code="cancelled"), 50)
    assert seen == []
    assert (await rollouts.view("chat"))["variants"][1]["window"]["runs"] == 0


async def test_a_healthy_canary_steps_up_and_is_promoted() -> None:
    clock = Clock()
    rollouts, seen = _rollouts(
        clock,
        variants=[{"name": "canary", "percent": 5}],
        steps=[5, 25, 100],
        step_interval_seconds=30,
    )
    await _feed(rollouts, "canary", OK, 5)
    assert seen == []  # healthy, but not for a step's interval yet
    for expected in (25.0, 100.0):
        clock.now += 30
        await _feed(rollouts, "canary", OK, 5)
        assert seen[-1].percent_after == expected
    assert [c.after for c in seen] == ["progressing", "promoted"]
    assert (await rollouts.view("chat"))["state"] == "promoted"
    assert all(rollouts.assign("chat", key=f"k{n}").variant == "canary" for n in range(100))


async def test_ratios_are_judged_against_stable() -> None:
    clock = Clock()
    analysis = {"min_runs": 3, "max_ttft_p95_ratio": 2.0, "max_error_rate": None}
    rollouts, seen = _rollouts(clock, analysis=analysis)
    await _feed(rollouts, "stable", OK, 3)
    await _feed(rollouts, "canary", Outcome("completed", ttft_s=0.3), 3)
    (change,) = seen
    breach = change.figures["breaches"][0]
    assert (breach["metric"], breach["value"], breach["threshold"]) == ("ttft_p95_ratio", 3.0, 2.0)


async def test_low_feedback_rolls_a_canary_back() -> None:
    clock = Clock()
    analysis = {"min_runs": 3, "min_feedback_score": 0.5}
    rollouts, seen = _rollouts(clock, analysis=analysis)
    await _feed(rollouts, "canary", OK, 3)
    for _ in range(3):
        rollouts.record_feedback("chat", "canary", 0.0)
    await rollouts.settle()
    assert seen[0].figures["breaches"][0]["metric"] == "feedback_score"


async def test_old_outcomes_leave_the_window() -> None:
    clock = Clock()
    rollouts, seen = _rollouts(clock)
    await _feed(rollouts, "canary", FAILED, 4)
    clock.now += 61
    await _feed(rollouts, "canary", FAILED, 1)
    assert seen == []


async def test_the_streaming_guard_serves_batch_until_streaming_recovers() -> None:
    clock = Clock()
    rollouts, seen = _rollouts(clock, variants=[], fallback_to_batch_error_rate=0.5)
    await _feed(rollouts, "stable", FAILED, 5)
    assert [(c.variant, c.after) for c in seen] == [("streaming", "batch")]
    assert rollouts.assign("chat", key="k").cohort == "batch"
    clock.now += 61  # the failures age out: streaming is tried again
    await _feed(rollouts, "stable", OK, 1, cohort="batch")
    assert [(c.variant, c.after) for c in seen][-1] == ("streaming", "stream")
    assert rollouts.assign("chat", key="k").cohort == "stream"


async def test_manual_actions_and_two_controllers_on_one_store() -> None:
    clock, store = Clock(), MemoryStore()
    one, _ = _rollouts(clock, store)
    other, _ = _rollouts(clock, store)
    await one.start()
    await other.start()
    await one.act("chat", "pause")
    assert (await other.view("chat"))["state"] == "paused"
    await _feed(other, "canary", FAILED, 10)  # paused: not judged
    assert (await one.view("chat"))["state"] == "paused"
    await other.act("chat", "resume")
    await one.act("chat", "promote", actor="ops")
    view = await other.view("chat")
    assert view["state"] == "promoted" and view["variants"][0]["percent"] == 0.0
    await one.aclose()
    await other.aclose()
