"""Two small callback handlers the adapter adds to a run's config.

Neither talks to the sink: a callback may fire in a worker thread (a sync step run in an
executor), so they only record, and the adapter reports from its own task.

:class:`UsageRecorder` is synchronous with ``run_inline = True``, so LangChain calls it
directly — never in a thread pool, and without a task per token for the
``on_llm_new_token`` calls it cannot opt out of. :class:`ToolCallIds` is async and *not*
inline: ``AsyncCallbackManager.on_llm_start`` (langchain-core 1.8) skips every
non-inline handler as soon as one inline handler is present, which would hide text
completion LLMs from ``astream_events``. It only handles tool starts, so being async
costs nothing per token. (The inline recorder does trigger that skip for *other*
non-inline handlers, e.g. a tracer, of a text completion LLM in a tokens-mode chain; the
run itself is unaffected, and chat models are not affected at all.)
"""

from __future__ import annotations

from typing import Any, Self
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler, BaseCallbackManager
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig, ensure_config

from tokenwire.langchain.usage import Usage, result_usage

__all__ = ["ModelNames", "ToolCallIds", "UsageRecorder", "with_handler"]


class _SharedState:
    # LangChain copies configs (and sometimes their handlers); state must stay shared.
    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self


class UsageRecorder(_SharedState, BaseCallbackHandler):
    """Records the usage of every model call that ends (``on_llm_end``), cheaply.

    Used in tokens mode for runnables whose chunks are not the model's messages (a chain
    ending in an output parser). ``pending`` is drained by the adapter.
    """

    run_inline = True
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_custom_event = True

    def __init__(self) -> None:
        self.pending: list[Usage] = []
        self._models: dict[UUID, str] = {}

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._remember_model(run_id, metadata)

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._remember_model(run_id, metadata)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        usage = result_usage(response, self._models.pop(run_id, None))
        if usage is not None:
            self.pending.append(usage)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._models.pop(run_id, None)

    def take(self) -> list[Usage]:
        """Remove and return what was recorded so far."""
        taken = self.pending[:]
        del self.pending[: len(taken)]
        return taken

    def _remember_model(self, run_id: UUID, metadata: dict[str, Any] | None) -> None:
        name = (metadata or {}).get("ls_model_name")
        if isinstance(name, str):
            self._models[run_id] = name


class ToolCallIds(_SharedState, AsyncCallbackHandler):
    """Maps tool run ids to the model's tool call ids.

    ``on_tool_start`` stream events do not carry the tool call id (only ``on_tool_error``
    and the ``ToolMessage`` at the end do), but the callback receives it. Handlers run
    in config order and this one is added before the ``astream_events`` handler, so the
    id is recorded before the event can be read.
    """

    ignore_llm = True
    ignore_chat_model = True
    ignore_chain = True
    ignore_retriever = True
    ignore_custom_event = True

    def __init__(self) -> None:
        self.by_run_id: dict[str, str] = {}

    async def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        tool_call_id = kwargs.get("tool_call_id")
        if isinstance(tool_call_id, str) and tool_call_id:
            self.by_run_id[str(run_id)] = tool_call_id


class ModelNames(_SharedState, AsyncCallbackHandler):
    """The chat models a run called, however deeply nested: ``ls_model_name`` →
    ``ls_provider`` from each ``on_chat_model_start``'s metadata.

    Async and not inline for the reason :class:`ToolCallIds` is; it ignores everything
    but chat model starts (``ignore_llm`` also spares it every ``on_llm_new_token``).
    """

    ignore_llm = True
    ignore_chain = True
    ignore_agent = True
    ignore_retriever = True
    ignore_custom_event = True

    def __init__(self) -> None:
        self.seen: dict[str, str | None] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        name = metadata.get("ls_model_name")
        if isinstance(name, str) and name and self.seen.get(name) is None:
            provider = metadata.get("ls_provider")
            self.seen[name] = provider if isinstance(provider, str) and provider else None


def with_handler(config: RunnableConfig | None, handler: BaseCallbackHandler) -> RunnableConfig:
    """A copy of ``config`` whose callbacks also include ``handler`` (inherited by children)."""
    config = ensure_config(config)
    callbacks = config.get("callbacks")
    if callbacks is None:
        config["callbacks"] = [handler]
    elif isinstance(callbacks, list):
        config["callbacks"] = [*callbacks, handler]
    elif isinstance(callbacks, BaseCallbackManager):
        manager = callbacks.copy()
        manager.add_handler(handler, inherit=True)
        config["callbacks"] = manager
    else:
        msg = f"unexpected callbacks in config: {callbacks!r}"
        raise TypeError(msg)
    return config
