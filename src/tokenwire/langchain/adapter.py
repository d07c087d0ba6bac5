"""The LangChain adapter: any ``Runnable`` → calls on a :class:`RunSink`.

    from tokenwire.langchain.adapter import AdapterOptions, stream_runnable

    output = await stream_runnable(chain, {"question": "..."}, config, sink,
                                   AdapterOptions(answer_tag="answer"))

Two ways to run, chosen by :func:`choose_mode`:

- ``"tokens"`` — ``runnable.astream``: the cheap path, for a bare chat model (also one
  wrapped by ``.bind(...)``, ``.bind_tools(...)``, ``.with_config(...)``, ``.with_retry()``:
  a binding is still exactly one model call, so its stream *is* the answer; tool call
  chunks are not tokens, they end up in the output). See :mod:`.tokens_mode`.
- ``"events"`` — ``runnable.astream_events(version="v2")``: everything else (chains,
  agents, graphs), with tool steps, retrievals and the answer picked out of nested model
  calls. ``answer_tag`` applies only here. See :mod:`.events_mode`.

The returned output is JSON-serialisable; the rule is in :mod:`.output`. Exceptions from
the runnable propagate unchanged. Cancelling the task running :func:`stream_runnable`
closes the upstream iterator before the cancellation completes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableBindingBase
from pydantic import BaseModel

from tokenwire.langchain.callbacks import ModelNames, with_handler
from tokenwire.langchain.events_mode import stream_events
from tokenwire.langchain.model_setup import requesting_usage
from tokenwire.langchain.output import Shape, final_output
from tokenwire.langchain.sink import RunSink
from tokenwire.langchain.steps import StepLog
from tokenwire.langchain.tokens_mode import stream_chat_model, stream_chunks

__all__ = [
    "AdapterOptions",
    "Mode",
    "choose_mode",
    "coerce_input",
    "invoke_runnable",
    "is_chat_model",
    "model_name",
    "stream_runnable",
]

Mode = Literal["auto", "tokens", "events"]


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """How a route's runnable is streamed.

    ``mode``: ``"auto"`` (tokens for a chat model, events otherwise), or forced.
    ``answer_tag``: in events mode, only models whose run tags contain it produce
    answer tokens (``model.with_config(tags=["answer"])``); by default the outermost
    model calls do.
    ``progress``: in events mode, report each node of a LangGraph graph starting and
    ending (``RunSink.node``).
    ``output``: the output's shape (:func:`~tokenwire.langchain.output.final_output`).
    ``step_values``: in events mode, report a LangGraph graph's whole state after every
    step (``RunSink.state``), not only when it stops.
    """

    mode: Mode = "auto"
    answer_tag: str | None = None
    progress: bool = False
    output: Shape = "auto"
    step_values: bool = False

    def __post_init__(self) -> None:
        if self.mode not in get_args(Mode):
            msg = f"mode must be one of {get_args(Mode)}, not {self.mode!r}"
            raise ValueError(msg)


def is_chat_model(runnable: Runnable[Any, Any]) -> bool:
    """True for a chat model, bare or inside (nested) bindings such as ``bind_tools``."""
    return isinstance(_unwrap(runnable), BaseChatModel)


def choose_mode(
    runnable: Runnable[Any, Any], options: AdapterOptions
) -> Literal["tokens", "events"]:
    """The streaming path for ``runnable``: ``options.mode`` unless it is ``"auto"``."""
    if options.mode != "auto":
        return options.mode
    return "tokens" if is_chat_model(runnable) else "events"


def coerce_input(runnable: Runnable[Any, Any], input: Any) -> Any:
    """The input as the runnable wants it.

    A chat model given an OpenAI-style body ``{"messages": [{"role", "content"}, ...]}``
    gets the message list (LangChain converts role dicts itself; other keys of the body
    are ignored). Everything else passes through unchanged.
    """
    if isinstance(input, Mapping) and is_chat_model(runnable):
        messages = input.get("messages")
        if isinstance(messages, list):
            return messages
    return input


async def stream_runnable(
    runnable: Runnable[Any, Any],
    input: Any,
    config: RunnableConfig | None,
    sink: RunSink,
    options: AdapterOptions | None = None,
    steps: StepLog | None = None,
) -> Any:
    """Stream ``runnable`` into ``sink``; return its final output, JSON-serialisable.
    ``steps``: where its model calls, tool calls and retrievals are timed (events mode; in
    tokens mode a bare chat model is one model call, and a chain's steps are not timed)."""
    options = options or AdapterOptions()
    input = coerce_input(runnable, input)
    if choose_mode(runnable, options) == "tokens" and is_chat_model(runnable):
        name = model_name(runnable)
        with requesting_usage(), _model_call(steps, name):
            return await stream_chat_model(runnable, input, config, sink, name)
    # Chains, agents and graphs: models nested anywhere ask for usage and are named.
    names = ModelNames()
    config = with_handler(config, names)
    try:
        with requesting_usage():
            if choose_mode(runnable, options) == "events":
                return await stream_events(
                    runnable,
                    input,
                    config,
                    sink,
                    options.answer_tag,
                    options.progress,
                    options.output,
                    steps,
                    options.step_values,
                )
            return await stream_chunks(runnable, input, config, sink, options.output)
    finally:
        for name, provider in names.seen.items():
            sink.model(name, provider)


@contextlib.contextmanager
def _model_call(steps: StepLog | None, name: str | None) -> Iterator[None]:
    """One model call, timed as a step: the whole of a tokens-mode stream."""
    if steps is None:
        yield
        return
    key = f"call-{len(steps.steps)}"
    steps.start(key, "llm", name or "model", model=name)
    try:
        yield
    except BaseException as exc:
        steps.end(key, error=type(exc).__name__)
        raise
    steps.end(key)


async def invoke_runnable(
    runnable: Runnable[Any, Any], input: Any, config: RunnableConfig | None = None
) -> Any:
    """``ainvoke`` without streaming; the output follows the same JSON rule."""
    return final_output(await runnable.ainvoke(coerce_input(runnable, input), config))


def _unwrap(runnable: Runnable[Any, Any]) -> Runnable[Any, Any]:
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return runnable


def model_name(runnable: Runnable[Any, Any]) -> str | None:
    """The model a runnable (a chat model, possibly bound) calls; None for chains."""
    while isinstance(runnable, RunnableBindingBase):
        bound_model = runnable.kwargs.get("model")
        if isinstance(bound_model, str):
            return bound_model
        runnable = runnable.bound
    for attribute in ("model_name", "model", "model_id"):
        name = _attribute(runnable, attribute)
        if isinstance(name, str) and name:
            return name
    return None


def _attribute(obj: object, name: str) -> Any:
    """``getattr(obj, name, None)``, minus pydantic's costly miss: a model without the
    attribute raises and catches an AttributeError inside its ``__getattr__`` (~5 us; this
    runs for every run). Fields live in the instance ``__dict__``, properties and class
    attributes on the type, extra fields in ``__pydantic_extra__``; wrappers that hand
    attributes on to what they wrap (``with_fallbacks``, ``configurable_fields``) are
    asked the ordinary way."""
    found = getattr(obj, "__dict__", {}).get(name)
    if found is not None:
        return found
    cls = type(obj)
    if _declared(cls, name) or _delegates(cls):
        return getattr(obj, name, None)
    extra = getattr(obj, "__pydantic_extra__", None)
    return extra.get(name) if isinstance(extra, dict) else None


def _declared(cls: type, name: str) -> bool:
    """Whether ``cls`` or a base defines ``name`` (each class is looked at once per name)."""
    key = (cls, name)
    found = _DECLARED.get(key)
    if found is None:
        found = _DECLARED[key] = _owner(cls, name) is not None
    return found


def _delegates(cls: type) -> bool:
    """Whether ``cls`` computes missing attributes: a ``__getattr__`` of its own or of a
    base, other than pydantic's (which only serves private and extra fields)."""
    found = _DELEGATES.get(cls)
    if found is None:
        owner = _owner(cls, "__getattr__")
        found = _DELEGATES[cls] = owner is not None and owner is not BaseModel
    return found


def _owner(cls: type, name: str) -> type | None:
    """The first class in ``cls``'s MRO that defines ``name``."""
    return next((base for base in cls.__mro__ if name in vars(base)), None)


_DECLARED: dict[tuple[type, str], bool] = {}
_DELEGATES: dict[type, bool] = {}
