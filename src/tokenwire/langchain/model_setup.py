"""Set up a route's chat models for serving through the gateway.

* ``stream_usage``: ``ChatOpenAI`` leaves it unset (so off) whenever a custom ``base_url``
  is configured, and then a stream carries no token counts and tokenwire would have to
  estimate them. Models with ``stream_usage`` left at ``None`` are switched on; a model set
  to ``False`` explicitly (a server that rejects ``stream_options``) is left alone.
* ``stream_chunk_timeout``: langchain-openai wraps every chunk read in
  ``asyncio.wait_for``, which on Python 3.11 loses a cancellation that races a chunk — a
  cancelled run would keep generating (and be billed) until the answer ends. The gateway
  has its own ``first_token_timeout``/``stall_timeout`` and needs cancellation to work, so
  the wrapper is turned off (``None``) for the models of a route.

Models are found through the runnable's graph and bindings; a model hidden inside a
LangGraph node's closure or a ``create_agent`` agent cannot be reached that way. For
those, :func:`requesting_usage` applies the ``stream_usage`` rule at call time: while a
gateway run streams, any ``ChatOpenAI`` (any ``BaseChatOpenAI``) whose ``stream_usage`` is
still ``None`` is switched on the moment it decides whether to ask for usage — however
deep it sits and whenever it was built. A callback cannot do this: ``on_chat_model_start``
sees a copy of the invocation params, never the model or the request it is about to send.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

__all__ = ["prepare_models", "requesting_usage"]

_SERVING: contextvars.ContextVar[bool] = contextvars.ContextVar("tokenwire_serving", default=False)
_installed = False


def prepare_models(runnable: Runnable[Any, Any]) -> list[str]:
    """Configure reachable chat models in place; returns the names of models changed."""
    changed = []
    for model in _models(runnable):
        fields = getattr(type(model), "model_fields", None)  # pydantic models only
        if not isinstance(fields, dict):
            continue
        touched = False
        if "stream_usage" in fields and model.stream_usage is None:
            model.stream_usage = True
            touched = True
        if "stream_chunk_timeout" in fields and model.stream_chunk_timeout:
            model.stream_chunk_timeout = None
            touched = True
        if touched:
            changed.append(getattr(model, "model_name", None) or type(model).__name__)
    return changed


def _models(runnable: Runnable[Any, Any]) -> Iterator[Any]:
    seen: set[int] = set()
    for candidate in _reachable(runnable):
        while isinstance(candidate, RunnableBindingBase):
            candidate = candidate.bound
        if id(candidate) not in seen:
            seen.add(id(candidate))
            yield candidate


def _reachable(runnable: Runnable[Any, Any]) -> Iterator[Any]:
    yield runnable
    try:
        graph = runnable.get_graph()
    except Exception:  # a graph that cannot be drawn still runs; only the lookup fails
        return
    for node in graph.nodes.values():
        if isinstance(node.data, Runnable):
            yield node.data


@contextlib.contextmanager
def requesting_usage() -> Iterator[None]:
    """Within this block (and the tasks and threads LangChain starts from it), chat models
    of langchain-openai left at ``stream_usage=None`` ask the provider for stream usage."""
    _install()
    token = _SERVING.set(True)
    try:
        yield
    finally:
        _SERVING.reset(token)


def _install() -> None:
    """Wrap ``BaseChatOpenAI._should_stream_usage`` once (when langchain-openai is there)."""
    global _installed
    if _installed:
        return
    _installed = True
    try:
        from langchain_openai.chat_models.base import BaseChatOpenAI
    except ImportError:  # langchain-openai is optional
        return
    original = getattr(BaseChatOpenAI, "_should_stream_usage", None)
    if not callable(original):  # renamed upstream: top-level models are still set up
        return
    BaseChatOpenAI._should_stream_usage = _wrapped(original)  # type: ignore[method-assign]


def _wrapped(original: Callable[..., bool]) -> Callable[..., bool]:
    def should_stream_usage(self: Any, *args: Any, **kwargs: Any) -> bool:
        # The same rule as prepare_models: only a model nobody decided for. An explicit
        # per-call ``stream_usage``/``stream_options`` still wins inside ``original``.
        if _SERVING.get() and getattr(self, "stream_usage", False) is None:
            self.stream_usage = True
        return original(self, *args, **kwargs)

    should_stream_usage.__wrapped__ = original  # type: ignore[attr-defined]
    return should_stream_usage
