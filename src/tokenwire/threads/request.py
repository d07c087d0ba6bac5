"""What a start on a thread asks for, as every protocol front end passes it on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tokenwire.errors import InvalidRequest
from tokenwire.routes import Multitask

__all__ = ["ThreadRequest", "split_thread", "start_request"]


@dataclass(frozen=True, slots=True)
class ThreadRequest:
    """Run on ``thread_id`` — with ``command`` (``{"resume": ...}``, LangGraph's
    ``Command``) in place of an input to resume it, or ``decisions`` answering its pending
    approvals (``POST /v1/threads/{id}/approvals``); ``multitask`` overrides the route's
    strategy for a thread that still has a live run."""

    thread_id: str
    command: dict[str, Any] | None = None
    multitask: Multitask | None = None
    decisions: list[Any] | None = None


def start_request(input: Any, thread: ThreadRequest | None) -> Any:
    """What identifies a start for its ``Idempotency-Key``: the input and, on a thread, the
    thread and what it is asked — decisions as sent, not the command they become, so a
    retry replays whatever ran since."""
    if thread is None:
        return input
    return [input, thread.thread_id, thread.command, thread.decisions]


def split_thread(
    thread: ThreadRequest | None, config: dict[str, Any] | None
) -> tuple[ThreadRequest | None, dict[str, Any] | None]:
    """The start's thread — from the request, or LangGraph's own spelling
    ``config.configurable.thread_id`` — and the config without it (a route does not
    declare it: the gateway supplies threads)."""
    configurable = config.get("configurable") if isinstance(config, dict) else None
    if not isinstance(configurable, dict) or "thread_id" not in configurable:
        return thread, config
    assert config is not None
    thread_id = configurable["thread_id"]
    rest = {k: v for k, v in configurable.items() if k != "thread_id"}
    config = {**config, "configurable": rest} if rest else _without(config, "configurable")
    if thread is None:
        return ThreadRequest(thread_id), config
    if thread.thread_id != thread_id:
        raise InvalidRequest(["config.configurable.thread_id: differs from thread_id"])
    return thread, config


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k != key}
