"""OpenAI Chat Completions request parameters → what the route's run does with them.

What is honoured, and how (``docs/openai.md`` says the same for users):

- ``max_tokens`` / ``max_completion_tokens`` (the smaller, if both): on **every** route, a
  per-run output budget (:class:`~tokenwire.pipeline.budgets.RunBudget`) tightening the
  route's own. It counts the gateway's token estimate of the answer as it streams; the run
  ends ``truncated`` and the client gets ``finish_reason: "length"``. It is not forwarded
  to the provider: a provider stopping on its own count would end the run ``completed``
  (``stop``), and its count and the gateway's differ.
- ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``response_format``,
  ``temperature``, ``top_p``, ``stop``, ``seed`` and the sampling extras
  ``frequency_penalty``, ``presence_penalty``, ``logit_bias``, ``reasoning_effort``: on a
  route whose runnable is an OpenAI-family chat model (``langchain-openai``'s
  ``BaseChatOpenAI``: ``ChatOpenAI``, ``AzureChatOpenAI``, …), bound to the model for this
  run as they were sent (``model.bind(**params)``), so they reach the provider unchanged.
  On any other chat model only ``stop`` (every LangChain chat model takes it) and
  ``tools`` / ``tool_choice`` (through its own ``bind_tools``, when it has one and the route
  is the bare model) are honoured.
- ``user``: the run's attribution user (``metadata.user``), not forwarded.
- ``n`` (only 1), ``stream``, ``stream_options``, ``logprobs: false``: understood.

Anything else set (not ``null``) — one of these on a route that cannot honour it (``tools``
on a chain or an agent), OpenAI parameters the gateway does not carry (``logprobs``,
``n > 1``, ``audio``, …) and unknown fields — is *unsupported*: a 400 naming it, unless the
gateway's ``ignore_unsupported_params`` is on.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

from tokenwire.langchain.adapter import is_chat_model
from tokenwire.pipeline.budgets import RunBudget
from tokenwire.routes import RunOptions

__all__ = ["BOUND_PARAMS", "UNDERSTOOD", "Binding", "bind_params"]

#: Parameters bound to an OpenAI-family chat model as they were sent.
BOUND_PARAMS = (
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "reasoning_effort",
)
#: Understood on every route (the endpoint itself reads them).
UNDERSTOOD = frozenset(
    {"model", "messages", "stream", "stream_options", "n", "user"}
    | {"max_tokens", "max_completion_tokens"}
)
#: ``logprobs: false`` is the default; only ``true`` asks for what is not carried.
_OFF_VALUES: Mapping[str, Any] = {"logprobs": False}


@dataclass(slots=True)
class Binding:
    """What a request's parameters make of its run: the options, and what is unsupported
    (``{parameter: why}``, in request order)."""

    options: RunOptions | None = None
    unsupported: dict[str, str] = field(default_factory=dict)


def bind_params(runnable: Runnable[Any, Any], params: Mapping[str, Any]) -> Binding:
    """The run options of a request to the route running ``runnable``.

    ``params``: the request's fields other than ``model`` and ``messages``; ``None`` values
    count as not sent."""
    sent = {k: v for k, v in params.items() if v is not None and _OFF_VALUES.get(k, ...) != v}
    binding = Binding()
    bound = {k: sent[k] for k in BOUND_PARAMS if k in sent}
    for name in sent:
        if name not in UNDERSTOOD and name not in bound:
            binding.unsupported[name] = "not supported by tokenwire's chat completions"
    limits = ("max_tokens", "max_completion_tokens")
    identity: dict[str, Any] = {**bound, **{k: sent[k] for k in limits if k in sent}}
    bound_runnable = _bound(runnable, dict(bound), binding.unsupported)
    budget = _budget(sent)
    if bound_runnable is not None or budget is not None:
        # A rollout may serve the run from another variant: bound there the same way.
        rebind = functools.partial(_bound, bound=dict(bound), unsupported={})
        binding.options = RunOptions(
            runnable=bound_runnable,
            budget=budget,
            identity=identity,
            rebind=rebind,
            source=runnable,
        )
    return binding


def _budget(sent: Mapping[str, Any]) -> RunBudget | None:
    limits = [sent[k] for k in ("max_tokens", "max_completion_tokens") if k in sent]
    return RunBudget(max_output_tokens=min(limits)) if limits else None


def _bound(
    runnable: Runnable[Any, Any], bound: dict[str, Any], unsupported: dict[str, str]
) -> Runnable[Any, Any] | None:
    """``runnable`` with what it can honour of ``bound`` bound; the rest goes in
    ``unsupported``. None when nothing is bound."""
    if not bound:
        return None
    if not is_chat_model(runnable):
        for name in bound:
            unsupported[name] = "this route is not a chat model, so it cannot take it"
        return None
    if _openai_family(runnable):
        return runnable.bind(**bound)
    kwargs: dict[str, Any] = {}
    if "stop" in bound:
        kwargs["stop"] = bound.pop("stop")
    tools: dict[str, Any] = {k: bound.pop(k) for k in ("tools", "tool_choice") if k in bound}
    for name in bound:
        unsupported[name] = "this route's chat model is not an OpenAI model"
    if tools:
        runnable = _with_tools(runnable, tools, unsupported)
    return runnable.bind(**kwargs) if kwargs else runnable


def _with_tools(
    runnable: Runnable[Any, Any], tools: dict[str, Any], unsupported: dict[str, str]
) -> Runnable[Any, Any]:
    model = runnable if isinstance(runnable, BaseChatModel) else None
    own = model is not None and type(model).bind_tools is not BaseChatModel.bind_tools
    if model is None or not own or "tools" not in tools:
        for name in tools:
            unsupported[name] = "this route's chat model cannot bind tools"
        return runnable
    choice = {"tool_choice": tools["tool_choice"]} if "tool_choice" in tools else {}
    return model.bind_tools(tools["tools"], **choice)


def _openai_family(runnable: Runnable[Any, Any]) -> bool:
    """A ``langchain-openai`` chat model (told by class, so the package stays optional)."""
    while isinstance(runnable, RunnableBindingBase):
        runnable = runnable.bound
    return any(
        cls.__name__ == "BaseChatOpenAI" and cls.__module__.startswith("langchain_openai")
        for cls in type(runnable).__mro__
    )
