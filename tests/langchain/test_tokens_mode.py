from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import ChatGenerationChunk
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableGenerator, RunnableLambda

from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import AdapterOptions, choose_mode, stream_runnable
from tokenwire.testing import ScriptedChatModel, text_turn, tool_call_turn


async def test_chat_model_tokens_join_to_the_output(sink: RecordingSink) -> None:
    model = GenericFakeChatModel(messages=iter(["Hello  there, world"]))
    assert choose_mode(model, AdapterOptions()) == "tokens"

    output = await stream_runnable(model, "hi", None, sink)

    assert output == "Hello  there, world"
    assert sink.text == output
    # GenericFakeChatModel splits "  " into " ", "", " ": the empty piece never arrives,
    # nor does LangChain's trailing empty chunk_position="last" chunk.
    assert "" not in sink.of("token")
    assert sink.kinds == ["token"] * len(sink.of("token"))


async def test_usage_reported_once_per_model_call(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("a", "b", usage=(11, 2), model="gpt-x-2024")])

    output = await stream_runnable(model, "hi", None, sink)

    assert output == "ab"
    assert sink.of("usage") == [(11, 2, "gpt-x-2024")]
    assert sink.kinds[-1] == "usage"


async def test_usage_summed_over_chunks_and_model_name_falls_back(sink: RecordingSink) -> None:
    usage = UsageMetadata(input_tokens=3, output_tokens=1, total_tokens=4)
    turn = [
        AIMessageChunk(content="x", usage_metadata=usage),
        AIMessageChunk(content="y", usage_metadata=usage),
    ]
    model = ScriptedChatModel(turns=[turn], model_name="scripted-large")

    await stream_runnable(model, "hi", None, sink)

    assert sink.of("usage") == [(6, 2, "scripted-large")]


async def test_no_usage_call_when_the_model_reports_none(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("a")])
    await stream_runnable(model, "hi", None, sink)
    assert sink.of("usage") == []


async def test_reasoning_blocks_and_kwargs(sink: RecordingSink) -> None:
    turn = [
        AIMessageChunk(content=[{"type": "thinking", "thinking": "hmm", "index": 0}]),
        AIMessageChunk(content=[{"type": "reasoning", "reasoning": " so", "index": 0}]),
        AIMessageChunk(
            content=[{"type": "reasoning", "summary": [{"type": "summary_text", "text": "!"}]}]
        ),
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": " deep"}),
        AIMessageChunk(
            content=[{"type": "thinking", "thinking": ""}, {"type": "text", "text": ""}]
        ),
        AIMessageChunk(content=[{"type": "text", "text": "An", "index": 1}, " answer"]),
        AIMessageChunk(content=[{"type": "image", "url": "x"}]),
    ]
    model = ScriptedChatModel(turns=[turn])

    output = await stream_runnable(model, "hi", None, sink)

    assert sink.calls == [
        ("reasoning", "hmm"),
        ("reasoning", " so"),
        ("reasoning", "!"),
        ("reasoning", " deep"),
        ("token", "An"),
        ("token", " answer"),
    ]
    assert output == "An answer"


async def test_bound_model_is_tokens_mode_and_keeps_tool_calls(sink: RecordingSink) -> None:
    model = ScriptedChatModel(
        turns=[[*text_turn("Let me check."), *tool_call_turn("f", "{}", "c1")]]
    )
    bound = model.bind(stop=["\n"]).with_config(tags=["t"])
    assert choose_mode(bound, AdapterOptions()) == "tokens"

    output = await stream_runnable(bound, "hi", None, sink)

    assert sink.text == "Let me check."
    assert output == {
        "type": "ai",
        "content": "Let me check.",
        "tool_calls": [{"id": "c1", "name": "f", "args": {}}],
    }


async def test_openai_style_messages_reach_a_chat_model(sink: RecordingSink) -> None:
    seen: list[Any] = []

    class Echo(ScriptedChatModel):
        async def _astream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
            seen.extend(messages)
            async for chunk in super()._astream(messages, *args, **kwargs):
                yield chunk

    model = Echo(turns=[text_turn("ok")])
    body = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}

    await stream_runnable(model, body, None, sink)

    assert [(m.type, m.content) for m in seen] == [("system", "s"), ("human", "u")]


async def test_chain_with_string_parser(sink: RecordingSink) -> None:
    def make() -> ScriptedChatModel:
        return ScriptedChatModel(turns=[text_turn("Bon", "jour", " !", usage=(9, 3))])

    prompt = ChatPromptTemplate.from_messages([("human", "Say hi to {name}")])
    expected = await (prompt | make() | StrOutputParser()).ainvoke({"name": "Ann"})
    chain = prompt | make() | StrOutputParser()

    output = await stream_runnable(chain, {"name": "Ann"}, None, sink, AdapterOptions("tokens"))

    assert output == expected == "Bonjour !"
    assert sink.text == expected
    assert sink.of("usage") == [(9, 3, "scripted-1")]


async def test_chain_of_message_chunks_counts_usage_once(sink: RecordingSink) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | ScriptedChatModel(
        turns=[text_turn("ok", usage=(4, 1))]
    )

    output = await stream_runnable(chain, {"q": "?"}, None, sink, AdapterOptions("tokens"))

    assert output == "ok"
    assert sink.of("usage") == [(4, 1, "scripted-1")]


async def test_non_text_chunks_are_accumulated_not_streamed(sink: RecordingSink) -> None:
    async def gen(_: Any) -> Any:
        yield {"a": 1}
        yield {"b": 2}

    output = await stream_runnable(
        RunnableGenerator(gen), "x", None, sink, AdapterOptions("tokens")
    )

    assert sink.calls == []
    assert output == {"b": 2}  # plain dicts do not add up: the last one wins, as in LangChain


async def test_string_runnable_output(sink: RecordingSink) -> None:
    runnable: RunnableLambda[str, str] = RunnableLambda(lambda x: f"<{x}>")
    assert await stream_runnable(runnable, "x", None, sink, AdapterOptions("tokens")) == "<x>"
    assert sink.text == "<x>"


async def test_model_without_streaming_falls_back_to_one_message(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("whole", usage=(1, 1))], disable_streaming=True)
    output = await stream_runnable(model, "hi", None, sink)
    assert output == "whole"
    assert sink.calls == [("token", "whole"), ("usage", (1, 1, "scripted-1"))]


async def test_runnable_errors_propagate_unchanged(sink: RecordingSink) -> None:
    class Boom(Exception):
        pass

    error = Boom("nope")

    class Failing(ScriptedChatModel):
        async def _astream(self, *args: Any, **kwargs: Any) -> Any:
            yield ChatGenerationChunk(message=AIMessageChunk(content="partial"))
            raise error

    with pytest.raises(Boom) as caught:
        await stream_runnable(Failing(turns=[]), "hi", None, sink)
    assert caught.value is error
    assert sink.text == "partial"


async def test_usage_of_a_model_called_in_a_worker_thread(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("sync", usage=(3, 1))])

    def ask(question: str) -> str:  # a sync step: LangChain runs it in an executor
        return str(model.invoke(question).text)

    output = await stream_runnable(RunnableLambda(ask), "q", None, sink, AdapterOptions("tokens"))

    assert output == "sync"
    assert sink.of("usage") == [(3, 1, "scripted-1")]
