"""The test kit, exercised as a project using it would: a scripted model on a live gateway."""

from __future__ import annotations

import pytest

from tokenwire import Route
from tokenwire.testing import (
    ScriptedChatModel,
    collect,
    failing_turn,
    parse_lines,
    serve,
    test_settings,
    text_turn,
)


def test_sse_reader_joins_data_lines_and_skips_comments() -> None:
    lines = [": heartbeat", "id: 3", "event: token", 'data: {"text":', 'data: "a"}', ""]
    (event,) = list(parse_lines(lines))
    assert (event.id, event.event, event.data) == (3, "token", {"text": "a"})


def test_scripted_model_streams_its_turns_through_a_live_gateway() -> None:
    model = ScriptedChatModel(turns=[text_turn("Hello", " world")])
    with serve([Route("chat", model)]) as client:
        events = collect(client, "chat", {"input": "hi"})
    tokens = [e.data["text"] for e in events if e.event == "token"]
    assert tokens == ["Hello", " world"]
    assert events[-1].event == "run.end"
    assert events[-1].data["status"] == "completed"
    assert model.calls == 1


def test_a_failing_turn_ends_the_run_with_a_typed_error() -> None:
    model = ScriptedChatModel(turns=[failing_turn(RuntimeError("boom"), "partial")])
    with serve([Route("chat", model)]) as client:
        events = collect(client, "chat", {"input": "hi"})
    ends = [e for e in events if e.event == "run.end"]
    assert len(ends) == 1
    assert ends[0].data["status"] == "failed"


def test_settings_for_tests_need_no_auth_and_own_a_data_dir() -> None:
    first, second = test_settings(), test_settings()
    assert first.auth == "none"
    assert first.data_dir != second.data_dir


@pytest.mark.parametrize("override", [{"heartbeat_seconds": 2.0}])
def test_settings_take_overrides(override: dict[str, float]) -> None:
    settings = test_settings(**override)
    assert settings.heartbeat_seconds == 2.0
