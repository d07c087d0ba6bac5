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
LangGraph node's closure cannot be reached — configure it yourself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase

__all__ = ["prepare_models"]


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
