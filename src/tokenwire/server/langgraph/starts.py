"""A LangGraph API run request → a start of the gateway's own run (one run engine).

The body is ``langgraph-sdk``'s ``RunCreate``: ``assistant_id`` names the graph route;
``input`` or ``command`` (``resume``, ``update``, ``goto``), ``config``, ``metadata``,
``stream_mode``, ``multitask_strategy`` (the same four strategies as tokenwire's
``multitask``), ``on_disconnect`` and ``if_not_exists`` map onto the native start. What
would change what a run does and is not carried here is refused (422), never ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from tokenwire.errors import RunRefused, UnknownThread
from tokenwire.gateway import Gateway
from tokenwire.protocols.langgraph import stream_modes
from tokenwire.protocols.refusals import native_refusal
from tokenwire.routes import DisconnectPolicy, RunOptions
from tokenwire.runs.run import Run
from tokenwire.server.langgraph.catalog import Catalog
from tokenwire.server.problems import problem, refused
from tokenwire.threads import ThreadRequest

__all__ = ["RunBody", "parse_body", "start"]

#: Fields that change what runs and that this front end does not carry.
_REFUSED = ("interrupt_before", "interrupt_after", "webhook", "checkpoint", "checkpoint_id",
            "after_seconds", "on_completion", "feedback_keys")  # fmt: skip
#: Fields whose effect tokenwire has anyway, or that only tune delivery.
_ACCEPTED = frozenset({
    "assistant_id", "input", "command", "config", "context", "metadata", "stream_mode",
    "stream_subgraphs", "stream_resumable", "multitask_strategy", "on_disconnect",
    "if_not_exists", "durability", "checkpoint_during", "langsmith_tracer", "strict_resume",
})  # fmt: skip
_MULTITASK = frozenset({"reject", "enqueue", "interrupt", "rollback"})
#: ``config`` keys a start passes on; LangGraph's own tuning keys are the gateway's.
_CONFIG_KEYS = frozenset({"tags", "metadata", "run_name", "configurable"})


@dataclass(frozen=True, slots=True)
class RunBody:
    route: str
    input: Any
    command: dict[str, Any] | None
    config: dict[str, Any] | None
    metadata: dict[str, Any] | None
    modes: frozenset[str]
    multitask: str | None
    on_disconnect: Any
    create_thread: bool


def parse_body(data: Any) -> RunBody | Response:
    if not isinstance(data, dict):
        return _invalid("the body must be a JSON object")
    wrong = [f"{k}: not supported by this gateway" for k in _REFUSED if data.get(k) is not None]
    wrong += [f"{k}: unknown field" for k in data if k not in _ACCEPTED and k not in _REFUSED]
    if data.get("context"):
        wrong.append("context: not supported by this gateway (use config.configurable)")
    route = data.get("assistant_id")
    if not isinstance(route, str) or not route:
        wrong.append("assistant_id: the graph route to run")
    multitask = data.get("multitask_strategy")
    if multitask is not None and multitask not in _MULTITASK:
        wrong.append(f"multitask_strategy: one of {', '.join(sorted(_MULTITASK))}")
    on_disconnect = data.get("on_disconnect")
    if on_disconnect not in (None, "cancel", "continue"):
        wrong.append("on_disconnect: cancel or continue")
    command, config = data.get("command"), data.get("config")
    if command is not None and not isinstance(command, dict):
        wrong.append("command: an object with resume, update or goto")
    if config is not None and not isinstance(config, dict):
        wrong.append("config: an object")
    try:
        modes = stream_modes(data.get("stream_mode"))
    except ValueError as exc:
        wrong.append(str(exc))
        modes = frozenset()
    if wrong:
        return _invalid("; ".join(wrong), wrong)
    metadata = data.get("metadata")
    return RunBody(
        route=str(route),
        input=data.get("input"),
        command=command or None,
        config={k: v for k, v in config.items() if k in _CONFIG_KEYS} if config else None,
        metadata=metadata if isinstance(metadata, dict) else None,
        modes=modes,
        multitask=multitask,
        on_disconnect=on_disconnect,
        create_thread=data.get("if_not_exists") == "create",
    )


async def start(
    gateway: Gateway,
    catalog: Catalog,
    request: Request,
    body: RunBody,
    thread_id: str | None,
    *,
    background: bool,
) -> Run | Response:
    """Start ``body`` on ``thread_id`` (None: a stateless run), or the refusal."""
    thread = None
    if thread_id is not None:
        known = catalog.get(thread_id) is not None or await gateway.threads.exists(thread_id)
        if not known:
            if not body.create_thread or catalog.taken(thread_id):
                return refused(native_refusal(UnknownThread(thread_id)))
            catalog.create(thread_id, {})
        thread = ThreadRequest(thread_id, body.command, body.multitask)  # type: ignore[arg-type]
    elif body.command is not None:
        return _invalid("command: resumes a thread; start the run on one")
    policy = cast(
        DisconnectPolicy | None, body.on_disconnect or ("continue" if background else None)
    )
    try:
        run, _ = await gateway.start_run(
            body.route,
            None if body.command is not None else body.input,
            config=body.config,
            on_disconnect=policy,
            metadata=body.metadata,
            idempotency_key=request.headers.get("idempotency-key"),
            thread=thread,
            # LangGraph's server streams the state after every step in values mode.
            options=RunOptions(step_values=True) if "values" in body.modes else None,
        )
    except RunRefused as exc:
        return refused(native_refusal(exc))
    catalog.run_started(run.id, body.modes, body.multitask)
    return run


def _invalid(detail: str, errors: list[str] | None = None) -> Response:
    return problem(422, "Invalid run request", detail, errors=errors or [detail])
