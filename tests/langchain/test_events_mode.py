from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.documents import Document
from langchain_core.language_models import LLM
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.outputs import GenerationChunk
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnablePassthrough
from langchain_core.tools import BaseTool, ToolException, tool
from langgraph.prebuilt import ToolNode, create_react_agent

from tests.langchain.fakes import ListRetriever, RecordingTool, RewritingRetriever
from tests.langchain.recording import RecordingSink
from tokenwire.langchain.adapter import AdapterOptions, choose_mode, stream_runnable
from tokenwire.testing import ScriptedChatModel, text_turn, tool_call_turn

EVENTS = AdapterOptions("events")


def react_agent(model: ScriptedChatModel, tools: list[BaseTool] | ToolNode) -> Runnable[Any, Any]:
    with warnings.catch_warnings():  # moved to langchain.agents, which is not installed
        warnings.simplefilter("ignore", DeprecationWarning)
        agent: Runnable[Any, Any] = create_react_agent(model, tools)
    return agent


async def test_retrieval_chain_reports_documents_before_the_first_token(
    sink: RecordingSink,
) -> None:
    long_text = "x" * 500
    retriever = ListRetriever(
        documents=[
            Document(id="d1", page_content="Paris is in France.", metadata={"source": "a.md"}),
            Document(page_content=long_text, metadata={"id": 7, "title": "T", "url": "https://u"}),
            Document(page_content="no metadata"),
        ]
    )
    prompt = ChatPromptTemplate.from_messages([("human", "{context}\n\n{question}")])
    model = ScriptedChatModel(turns=[text_turn("Paris", ".", usage=(30, 2))])
    chain = (
        {
            "context": retriever | (lambda docs: "\n".join(d.page_content for d in docs)),
            "question": RunnablePassthrough(),
        }
        | prompt
        | model
        | StrOutputParser()
    )
    assert choose_mode(chain, AdapterOptions()) == "events"

    output = await stream_runnable(chain, "Where is Paris?", None, sink)

    assert output == "Paris."
    assert sink.text == "Paris."
    assert sink.kinds.index("retrieval") < sink.kinds.index("token")
    assert sink.of("retrieval") == [
        [
            {"id": "d1", "source": "a.md", "title": None, "snippet": "Paris is in France."},
            {"id": "7", "source": "https://u", "title": "T", "snippet": "x" * 200},
            {"id": "doc-2", "source": None, "title": None, "snippet": "no metadata"},
        ]
    ]
    assert sink.of("usage") == [(30, 2, "scripted-1")]


async def test_a_model_inside_a_retriever_is_not_the_answer(sink: RecordingSink) -> None:
    rewriter = ScriptedChatModel(turns=[text_turn("better", " query")])
    retriever = RewritingRetriever(rewriter=rewriter, documents=[Document("Paris")])
    answer = ScriptedChatModel(turns=[text_turn("It is", " Paris.")])
    prompt = ChatPromptTemplate.from_messages([("human", "{context} {question}")])
    chain = (
        {"context": retriever, "question": RunnablePassthrough()}
        | prompt
        | answer
        | StrOutputParser()
    )

    assert await stream_runnable(chain, "Where?", None, sink) == "It is Paris."
    assert sink.text == "It is Paris."


async def test_agent_tool_steps_and_answer_from_the_outer_model(sink: RecordingSink) -> None:
    inner = ScriptedChatModel(turns=[text_turn("inner", " words", usage=(1, 2))], model_name="in")

    @tool
    async def lookup(query: str) -> str:
        """Look something up."""
        answer = await inner.ainvoke(query)
        return f"found: {answer.text}"

    outer = ScriptedChatModel(
        turns=[
            tool_call_turn("lookup", '{"query": "x"}', "call_1", usage=(5, 1)),
            text_turn("The", " answer", usage=(7, 2)),
        ]
    )
    agent = react_agent(outer, [lookup])

    output = await stream_runnable(agent, {"messages": [HumanMessage("hi")]}, None, sink)

    assert output == "The answer"
    assert sink.text == "The answer"  # nothing from the model inside the tool
    assert sink.of("tool_start") == [("call_1", "lookup", {"query": "x"})]
    assert sink.of("tool_end") == [("call_1", "lookup", "found: inner words", None)]
    assert sink.kinds.index("tool_end") < sink.kinds.index("token")
    assert sink.of("usage") == [(5, 1, "scripted-1"), (1, 2, "in"), (7, 2, "scripted-1")]


async def test_tool_errors_end_the_step_with_the_error(sink: RecordingSink) -> None:
    def fail(query: str) -> str:
        raise RuntimeError(f"cannot look up {query}")

    outer = ScriptedChatModel(
        turns=[tool_call_turn("lookup", '{"query": "q"}', "call_9"), text_turn("Sorry.")]
    )
    agent = react_agent(outer, ToolNode([RecordingTool(fn=fail)], handle_tool_errors=True))

    output = await stream_runnable(agent, {"messages": [("user", "hi")]}, None, sink)

    assert output == "Sorry."
    assert sink.of("tool_start") == [("call_9", "lookup", {"query": "q"})]
    assert sink.of("tool_end") == [("call_9", "lookup", None, "cannot look up q")]


async def test_handled_tool_exception_is_an_error_result(sink: RecordingSink) -> None:
    def fail(query: str) -> str:
        raise ToolException("service down")

    failing = RecordingTool(fn=fail, handle_tool_error=True)
    outer = ScriptedChatModel(
        turns=[tool_call_turn("lookup", '{"query": "q"}', "call_2"), text_turn("Sorry.")]
    )

    await stream_runnable(react_agent(outer, [failing]), {"messages": [("user", "hi")]}, None, sink)

    assert sink.of("tool_end") == [("call_2", "lookup", "service down", "service down")]


async def test_tool_without_call_id_uses_its_run_id_for_start_and_end(
    sink: RecordingSink,
) -> None:
    lookup = RecordingTool(fn=lambda q: {"hits": [q]})

    async def use_tool(question: str) -> Any:
        return await lookup.ainvoke({"query": question})

    output = await stream_runnable(RunnableLambda(use_tool), "q", None, sink)

    ((start_id, name, args),) = sink.of("tool_start")
    assert (name, args) == ("lookup", {"query": "q"})
    assert sink.of("tool_end") == [(start_id, "lookup", {"hits": ["q"]}, None)]
    assert output == {"hits": ["q"]}


def two_model_chain() -> Runnable[Any, Any]:
    draft = ScriptedChatModel(turns=[text_turn("draft")], model_name="draft-model")
    final = ScriptedChatModel(turns=[text_turn("final")], model_name="final-model")
    return (
        draft
        | StrOutputParser()
        | final.with_config(tags=["answer"], run_name="final")
        | StrOutputParser()
    )


async def test_outermost_models_all_count_without_a_tag(sink: RecordingSink) -> None:
    output = await stream_runnable(two_model_chain(), "go", None, sink)
    assert sink.text == "draftfinal"
    assert output == "final"


async def test_answer_tag_picks_the_tagged_model(sink: RecordingSink) -> None:
    options = AdapterOptions(answer_tag="answer")
    output = await stream_runnable(two_model_chain(), "go", None, sink, options)
    assert sink.text == "final"
    assert output == "final"
    assert [model for _, _, model in sink.of("usage")] == []  # the fakes report no usage


async def test_answer_tag_can_select_a_nested_model(sink: RecordingSink) -> None:
    inner = ScriptedChatModel(turns=[text_turn("nested", " answer")]).with_config(tags=["answer"])
    outer = ScriptedChatModel(turns=[text_turn("outer")])

    async def call_inner(message: Any) -> Any:
        return await inner.ainvoke(message.text)

    chain = outer | RunnableLambda(call_inner)
    options = AdapterOptions(answer_tag="answer")

    assert await stream_runnable(chain, "go", None, sink, options) == "nested answer"
    assert sink.text == "nested answer"


async def test_a_shallower_model_takes_over_as_the_answer(sink: RecordingSink) -> None:
    deep = ScriptedChatModel(turns=[text_turn("deep")])
    shallow = ScriptedChatModel(turns=[text_turn("shallow")])
    chain = RunnableLambda(lambda x: x) | (deep | StrOutputParser()) | shallow

    await stream_runnable(chain, "go", None, sink)

    # The nested sequence's model ran first and counted; once the shallower one
    # started, only it counts.
    assert sink.text == "deepshallow"


async def test_reasoning_from_the_answer_model(sink: RecordingSink) -> None:
    turn = [
        AIMessageChunk(content=[{"type": "reasoning", "reasoning": "think"}]),
        AIMessageChunk(content="", additional_kwargs={"reasoning_content": " more"}),
        AIMessageChunk(content=[{"type": "text", "text": "done"}]),
    ]
    chain = ScriptedChatModel(turns=[turn]) | StrOutputParser()

    assert await stream_runnable(chain, "go", None, sink) == "done"
    assert sink.calls == [("reasoning", "think"), ("reasoning", " more"), ("token", "done")]


async def test_events_mode_over_a_chat_model(sink: RecordingSink) -> None:
    model = ScriptedChatModel(turns=[text_turn("a", "", "b", usage=(2, 2))])
    output = await stream_runnable(
        model, {"messages": [{"role": "user", "content": "x"}]}, None, sink, EVENTS
    )
    assert output == "ab"
    assert sink.calls == [("token", "a"), ("token", "b"), ("usage", (2, 2, "scripted-1"))]


class CompletionLLM(LLM):
    """A text-completion (non-chat) model streaming two pieces."""

    @property
    def _llm_type(self) -> str:
        return "completion"

    def _call(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> str:
        return "hey you"

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        for piece in ("hey", "", " you"):
            chunk = GenerationChunk(text=piece)
            if run_manager is not None:  # as providers do: streaming events come from here
                await run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


async def test_text_completion_llm_tokens(sink: RecordingSink) -> None:
    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | CompletionLLM()
    assert await stream_runnable(chain, {"q": "?"}, None, sink) == "hey you"
    assert sink.of("token") == ["hey", " you"]


async def test_errors_propagate_unchanged(sink: RecordingSink) -> None:
    error = LookupError("missing")

    def fail(text: str) -> str:
        raise error

    chain = ScriptedChatModel(turns=[text_turn("partial")]) | StrOutputParser() | fail

    with pytest.raises(LookupError) as caught:
        await stream_runnable(chain, "go", None, sink)
    assert caught.value is error
    assert sink.text == "partial"


async def _generator(_: Any) -> AsyncIterator[str]:
    for piece in ("plain ", "", "generator"):
        yield piece


async def test_a_runnable_without_models_streams_its_own_string_chunks(
    sink: RecordingSink,
) -> None:
    chain = RunnableLambda(_generator)
    assert choose_mode(chain, AdapterOptions()) == "events"
    assert await stream_runnable(chain, "x", None, sink) == "plain generator"
    assert sink.calls == [("token", "plain "), ("token", "generator")]


async def test_root_chunks_are_not_tokens_once_a_model_streams(sink: RecordingSink) -> None:
    chain = ScriptedChatModel(turns=[text_turn("a", "b")]) | StrOutputParser()
    await stream_runnable(chain, "x", None, sink, EVENTS)
    assert sink.of("token") == ["a", "b"]
