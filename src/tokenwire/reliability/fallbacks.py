"""Fallbacks: the other runnables a route tries, in order, when its own fails.

A fallback streams like the route's runnable, or — ``streaming=False`` — is called with
``ainvoke`` and its whole answer delivered as one ``token`` (for providers or chains that
cannot stream). An :class:`Upstream` is one entry of the resulting plan: index 0 is the
route's own runnable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import Runnable, RunnableConfig

from tokenwire.langchain.adapter import AdapterOptions, Mode, invoke_runnable
from tokenwire.langchain.callbacks import UsageRecorder, with_handler
from tokenwire.langchain.sink import RunSink

__all__ = [
    "Fallback",
    "MidStreamPolicy",
    "Upstream",
    "as_fallback",
    "invoke_as_token",
]

#: What a failure after the first token does: end with ``error`` (partial output kept),
#: ``restart`` on the next fallback, or ask it to ``continue`` the partial answer.
MidStreamPolicy = Literal["error", "restart", "continue"]


@dataclass(frozen=True, slots=True)
class Fallback:
    """``Route("chat", primary, fallbacks=[Fallback(backup, name="backup")])``.

    ``name`` is what ``run.end.fallback_used`` reports (default: the model name, else
    ``fallback-<n>``). ``mode`` / ``answer_tag`` work as on :class:`~tokenwire.Route`.
    """

    runnable: Runnable[Any, Any]
    name: str | None = None
    streaming: bool = True
    mode: Mode = "auto"
    answer_tag: str | None = None


@dataclass(frozen=True, slots=True)
class Upstream:
    index: int
    name: str
    runnable: Runnable[Any, Any]
    streaming: bool
    options: AdapterOptions

    @property
    def is_fallback(self) -> bool:
        return self.index > 0


def as_fallback(value: Fallback | Runnable[Any, Any]) -> Fallback:
    return value if isinstance(value, Fallback) else Fallback(value)


async def invoke_as_token(
    runnable: Runnable[Any, Any], input: Any, config: RunnableConfig, sink: RunSink
) -> Any:
    """``ainvoke`` the runnable; its text answer becomes one ``token``, its usage is reported."""
    usage = UsageRecorder()
    try:
        output = await invoke_runnable(runnable, input, with_handler(config, usage))
    finally:
        for report in usage.take():
            sink.usage(report.input_tokens, report.output_tokens, report.model)
    if isinstance(output, str) and output:
        sink.token(output)
    return output
