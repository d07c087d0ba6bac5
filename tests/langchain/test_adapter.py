from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import RunnableLambda

from tokenwire.langchain.adapter import (
    AdapterOptions,
    choose_mode,
    coerce_input,
    invoke_runnable,
    is_chat_model,
)
from tokenwire.testing import ScriptedChatModel, text_turn

AUTO = AdapterOptions()


def test_options_are_frozen_slotted_and_validated() -> None:
    options = AdapterOptions("events", answer_tag="answer")
    assert (options.mode, options.answer_tag) == ("events", "answer")
    assert not hasattr(options, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.mode = "tokens"  # type: ignore[misc]
    with pytest.raises(ValueError, match="mode must be one of"):
        AdapterOptions("fast")  # type: ignore[arg-type]


def test_chat_models_and_their_bindings_stream_tokens() -> None:
    model = FakeListChatModel(responses=["x"])
    scripted = ScriptedChatModel(turns=[text_turn("x")])
    for runnable in (
        model,
        model.bind(stop=["."]),
        model.with_config(tags=["a"]).bind(stop=["."]),
        model.with_retry(),
        scripted.bind_tools([]),
    ):
        assert is_chat_model(runnable)
        assert choose_mode(runnable, AUTO) == "tokens"


def test_everything_else_streams_events() -> None:
    model = FakeListChatModel(responses=["x"])
    for runnable in (
        model | StrOutputParser(),
        model.with_fallbacks([model]),
        RunnableLambda(lambda x: x),
    ):
        assert not is_chat_model(runnable)
        assert choose_mode(runnable, AUTO) == "events"


def test_a_forced_mode_wins() -> None:
    model = FakeListChatModel(responses=["x"])
    assert choose_mode(model, AdapterOptions("events")) == "events"
    assert choose_mode(model | StrOutputParser(), AdapterOptions("tokens")) == "tokens"


def test_openai_messages_become_a_message_list_for_chat_models_only() -> None:
    messages = [{"role": "user", "content": "hi"}]
    model = FakeListChatModel(responses=["x"])
    graph_like = RunnableLambda(lambda state: state)

    assert coerce_input(model, {"messages": messages, "model": "m"}) == messages
    assert coerce_input(model.bind(stop=["."]), {"messages": messages}) == messages
    assert coerce_input(model, "hi") == "hi"
    assert coerce_input(model, {"messages": "not a list"}) == {"messages": "not a list"}
    assert coerce_input(graph_like, {"messages": messages}) == {"messages": messages}


async def test_invoke_runnable_uses_the_same_output_rule() -> None:
    model = ScriptedChatModel(turns=[text_turn("Hel", "lo")])
    assert await invoke_runnable(model, {"messages": [{"role": "user", "content": "x"}]}) == "Hello"

    def agent(state: dict[str, Any]) -> dict[str, Any]:
        return {"messages": [*state["messages"], AIMessage("done")], "steps": 2}

    output = await invoke_runnable(RunnableLambda(agent), {"messages": [HumanMessage("go")]})
    assert output == "done"


def test_model_name_from_fields_bindings_properties_extras_and_plain_objects() -> None:

    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.runnables import ConfigurableField
    from langchain_openai import ChatOpenAI
    from pydantic import ConfigDict, SecretStr

    from tokenwire.langchain.adapter import model_name

    openai = ChatOpenAI(model="gpt-4o-mini", api_key=SecretStr("x"), base_url="http://127.0.0.1:9")
    assert model_name(openai) == "gpt-4o-mini"  # a field (model_name, alias model)
    assert model_name(openai.bind(temperature=0)) == "gpt-4o-mini"
    assert model_name(openai.bind(model="gpt-4o")) == "gpt-4o"  # a bound override wins
    assert model_name(GenericFakeChatModel(messages=iter([]))) is None
    # Wrappers hand attribute lookups on to the model they wrap.
    assert model_name(openai.with_fallbacks([openai])) == "gpt-4o-mini"
    field = ConfigurableField(id="temperature")
    assert model_name(openai.configurable_fields(temperature=field)) == "gpt-4o-mini"
    choice = ConfigurableField(id="model")
    assert model_name(openai.configurable_alternatives(choice, default_key="a")) == "gpt-4o-mini"

    class WithProperty(GenericFakeChatModel):
        @property
        def model(self) -> str:
            return "from-a-property"

    class WithExtra(GenericFakeChatModel):
        model_config = ConfigDict(extra="allow")

    class Plain:
        def __getattr__(self, name: str) -> Any:
            if name == "model_id":
                return "computed"
            raise AttributeError(name)

    assert model_name(WithProperty(messages=iter([]))) == "from-a-property"
    assert (
        model_name(WithExtra.model_validate({"messages": iter([]), "model": "extra-model"}))
        == "extra-model"
    )
    assert model_name(Plain()) == "computed"  # type: ignore[arg-type]
