"""A graph served on threads: the gateway's checkpointer, the thread's config, a resume.

LangGraph's own server does the same for a graph compiled without a checkpointer: it
supplies one, keyed by ``configurable.thread_id``. The thread's owner and route go into the
run's metadata, which LangGraph writes into every checkpoint's metadata — so who may see a
thread, and which route's graph reads it, is stored with the thread itself, on every
replica and across restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.base import RunnableBindingBase
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.pregel import Pregel
from langgraph.types import Command

from tokenwire.errors import InvalidRequest

__all__ = [
    "OWNER_KEY",
    "ROUTE_KEY",
    "resume_command",
    "thread_config",
    "with_checkpointer",
]

log = logging.getLogger("tokenwire.threads")

#: Checkpoint metadata: the key alias that owns the thread, and its route.
OWNER_KEY = "tokenwire_owner"
ROUTE_KEY = "tokenwire_route"

_COMMAND_FIELDS = frozenset({"resume", "update", "goto"})


def with_checkpointer(
    runnable: Runnable[Any, Any], saver: BaseCheckpointSaver[Any]
) -> Runnable[Any, Any] | None:
    """``runnable`` with ``saver`` as its checkpointer — in place of one of its own too, so
    every thread is owned, shared by replicas and kept where the gateway keeps threads;
    None when it is no LangGraph graph (bindings are looked through and kept)."""
    if isinstance(runnable, RunnableBindingBase):
        inner = with_checkpointer(runnable.bound, saver)
        if inner is None or inner is runnable.bound:
            return None if inner is None else runnable
        return runnable.model_copy(update={"bound": inner})
    if not isinstance(runnable, Pregel):
        return None
    if runnable.checkpointer not in (None, False, True):
        log.warning("a graph's own checkpointer is replaced by the gateway's for its threads")
    return runnable.copy(update={"checkpointer": saver})


def resume_command(command: Any) -> Command[Any] | None:
    """A request's ``command`` (``{"resume": ..., "update": ..., "goto": ...}``) as
    LangGraph's ``Command``; ``InvalidRequest`` for anything else. ``{"resume": null}``
    alone is None: the graph's input that carries on from the thread's last checkpoint
    (a run whose replica died is restarted this way)."""
    if not isinstance(command, Mapping) or not command:
        raise InvalidRequest(["command: must be an object with resume, update or goto"])
    unknown = sorted(set(command) - _COMMAND_FIELDS)
    if unknown:
        raise InvalidRequest([f"command.{key}: not a Command field" for key in unknown])
    update = command.get("update")
    if update is not None and not isinstance(update, Mapping | list):
        raise InvalidRequest(["command.update: must be an object or a list of pairs"])
    goto = command.get("goto")
    if goto is not None and not isinstance(goto, str | list):
        raise InvalidRequest(["command.goto: must be a node name or a list of them"])
    if set(command) == {"resume"} and command["resume"] is None:
        return None
    return Command(resume=command.get("resume"), update=update, goto=goto or ())


def thread_config(
    config: RunnableConfig,
    thread_id: str,
    *,
    owner: str,
    route: str,
    checkpoint_id: str | None = None,
) -> RunnableConfig:
    """``config`` on thread ``thread_id`` (from ``checkpoint_id`` when set: a fork)."""
    configurable = {**config.get("configurable", {}), "thread_id": thread_id}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    metadata = {**config.get("metadata", {}), OWNER_KEY: owner, ROUTE_KEY: route}
    return {**config, "configurable": configurable, "metadata": metadata}
