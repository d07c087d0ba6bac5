from __future__ import annotations

import json
from typing import Any

from tokenwire.mock import MockProfile, prompt_tokens, reply_text, reply_tokens
from tokenwire.mock.script import CORPUS, write_script


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            },
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"properties": {"zone": {"type": "string"}}}},
}


def test_echo_is_whitespace_normalized_and_tokenized_per_word() -> None:
    messages = [{"role": "system", "content": "be nice"}, user("  hello\n  there   world ")]
    assert reply_tokens(messages) == ["You ", "said: ", "hello ", "there ", "world"]
    assert reply_text(messages) == "You said: hello there world"


def test_echo_quotes_at_most_forty_words_of_the_last_user_message() -> None:
    words = [f"w{i}" for i in range(60)]
    messages = [user("first"), {"role": "assistant", "content": "x"}, user(" ".join(words))]
    assert reply_text(messages) == "You said: " + " ".join(words[:40])


def test_content_parts_are_joined() -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "text", "text": "here"},
    ]
    assert reply_text([user(parts)]) == "You said: look here"


def test_tokens_cuts_or_extends_with_the_corpus() -> None:
    messages = [user("one two three")]
    assert reply_tokens(messages, MockProfile(tokens=3)) == ["You ", "said: ", "one"]
    long = reply_tokens(messages, MockProfile(tokens=40))
    assert len(long) == 40
    assert "".join(long).startswith("You said: one two three " + CORPUS.split(".")[0])
    assert reply_tokens(messages, MockProfile(tokens=0)) == []


def test_tool_result_is_reported() -> None:
    messages = [
        user("hi"),
        {"role": "assistant", "content": None},
        {"role": "tool", "content": " 42  °C "},
    ]
    assert reply_text(messages) == "The tool returned: 42 °C"


def test_prompt_tokens_rule() -> None:
    messages = [{"role": "system", "content": "be nice"}, user("a b c")]
    assert prompt_tokens(messages) == (2 + 4) + (3 + 4)


def test_tool_call_picks_the_first_tool_named_in_the_message() -> None:
    request = {"messages": [user("get_weather or get_time?")], "tools": [WEATHER_TOOL, TIME_TOOL]}
    call = write_script(request, MockProfile()).tool_call
    assert call is not None and call.name == "get_weather"
    request = {"messages": [user("what time is it?")], "tools": [TIME_TOOL, WEATHER_TOOL]}
    call = write_script(request, MockProfile()).tool_call
    assert call is not None and call.name == "get_time"  # no name appears: the first tool


def test_tool_call_arguments_are_parsed_and_coerced() -> None:
    text = "get_weather city: Paris days=3 metric=false."
    request = {"model": "mock", "messages": [user(text)], "tools": [WEATHER_TOOL]}
    call = write_script(request, MockProfile()).tool_call
    assert call is not None
    assert json.loads(call.arguments) == {"city": "Paris", "days": 3, "metric": False, "note": text}
    assert "".join(call.pieces) == call.arguments
    again = write_script(request, MockProfile()).tool_call
    assert again is not None and again.id == call.id and call.id.startswith("call_")


def test_a_one_parameter_tool_takes_its_argument_from_a_call_in_the_message() -> None:
    square = {
        "type": "function",
        "function": {"name": "square", "parameters": {"properties": {"x": {"type": "integer"}}}},
    }
    request = {"model": "mock", "messages": [user("What is square(3)? Use the tool.")]}
    call = write_script({**request, "tools": [square]}, MockProfile()).tool_call
    assert call is not None and json.loads(call.arguments) == {"x": 3}
    # name=value still wins; a tool of several parameters is not called positionally
    named = [user("square(3) with x=5")]
    call = write_script({**request, "messages": named, "tools": [square]}, MockProfile()).tool_call
    assert call is not None and json.loads(call.arguments) == {"x": 5}
    several = [user("get_weather(Paris)")]
    script = write_script({**request, "messages": several, "tools": [WEATHER_TOOL]}, MockProfile())
    assert script.tool_call is not None
    assert json.loads(script.tool_call.arguments)["city"] == "get_weather(Paris)"


def test_tool_call_defaults_and_usage() -> None:
    request = {"model": "mock", "messages": [user("weather please")], "tools": [WEATHER_TOOL]}
    script = write_script(request, MockProfile())
    assert script.tool_call is not None
    args = json.loads(script.tool_call.arguments)
    assert args == {"city": "weather please", "days": 1, "metric": True, "note": "weather please"}
    assert script.finish_reason == "tool_calls"
    assert script.usage()["completion_tokens"] == len(script.tool_call.pieces) + 1


def test_no_tool_call_after_a_tool_message_or_with_tool_choice_none() -> None:
    messages = [user("weather"), {"role": "tool", "content": "sunny"}]
    after_tool = {"messages": messages, "tools": [WEATHER_TOOL]}
    assert write_script(after_tool, MockProfile()).tool_call is None
    choice_none = {"messages": [user("weather")], "tools": [WEATHER_TOOL], "tool_choice": "none"}
    assert write_script(choice_none, MockProfile()).tool_call is None


def test_max_tokens_truncates_with_finish_reason_length() -> None:
    script = write_script({"messages": [user("a b c d")], "max_tokens": 3}, MockProfile())
    assert script.tokens == ("You ", "said: ", "a ")
    assert script.finish_reason == "length"


def _tool(name: str) -> dict[str, Any]:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def _called(name: str) -> list[dict[str, Any]]:
    call = {"id": f"c-{name}", "type": "function", "function": {"name": name, "arguments": "{}"}}
    return [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": f"c-{name}", "content": f"{name} done"},
    ]


def test_a_message_naming_two_tools_calls_each_in_turn_then_answers() -> None:
    tools = [_tool("get_weather"), _tool("get_time")]
    messages: list[dict[str, Any]] = [user("get_time then get_weather for city=Paris")]
    first = write_script({"messages": messages, "tools": tools}, MockProfile())
    assert first.tool_call is not None and first.tool_call.name == "get_time"
    messages += _called("get_time")
    second = write_script({"messages": messages, "tools": tools}, MockProfile())
    assert second.tool_call is not None and second.tool_call.name == "get_weather"
    assert json.loads(second.tool_call.arguments) == {"city": "Paris"}  # the user's text
    messages += _called("get_weather")
    third = write_script({"messages": messages, "tools": tools}, MockProfile())
    assert third.tool_call is None and third.text == "The tool returned: get_weather done"
