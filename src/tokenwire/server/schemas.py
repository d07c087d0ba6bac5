"""Request and response bodies of the native HTTP API (also the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tokenwire.threads import ThreadRequest

__all__ = ["RunAccepted", "RunRequest", "RunSnapshot"]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Any = Field(
        default=None, description="The runnable's input, as its input schema describes."
    )
    config: dict[str, Any] | None = Field(
        default=None, description="`tags`, `metadata`, `run_name` and declared `configurable`."
    )
    on_disconnect: Literal["cancel", "continue"] | None = Field(
        default=None,
        description="When the last subscriber leaves: cancel after a grace period, or finish "
        "in the background. Default: the route's policy for streams, `continue` for 202 runs.",
    )
    metadata: dict[str, Any] | None = None
    thread_id: str | None = Field(
        default=None,
        description="Run on this LangGraph thread (graph routes): its state is checkpointed "
        "by the gateway, and a run ending `interrupted` resumes on it with `command`. "
        "`config.configurable.thread_id` says the same.",
        max_length=256,
    )
    command: dict[str, Any] | None = Field(
        default=None,
        description='LangGraph\'s `Command` in place of `input`: `{"resume": value}` '
        "answers the thread's interrupt (also `update`, `goto`). Needs `thread_id`.",
    )
    multitask: Literal["reject", "enqueue", "interrupt", "rollback"] | None = Field(
        default=None,
        description="When the thread still has a live run: refuse (409), wait for it, or "
        "cancel it keeping (`interrupt`) or discarding (`rollback`) its progress. "
        "Default: the route's `multitask`.",
    )

    @model_validator(mode="after")
    def _command_needs_a_thread(self) -> RunRequest:
        thread_id = self._thread_id()
        if self.command is not None and thread_id is None:
            raise ValueError("command needs thread_id: it resumes a thread")
        if self.command is None and thread_id is None and "input" not in self.model_fields_set:
            raise ValueError("input: Field required")
        return self

    def _thread_id(self) -> Any:
        """``thread_id``, or LangGraph's spelling ``config.configurable.thread_id``."""
        if self.thread_id is not None:
            return self.thread_id
        configurable = (self.config or {}).get("configurable")
        return configurable.get("thread_id") if isinstance(configurable, dict) else None

    def thread(self) -> ThreadRequest | None:
        thread_id = self._thread_id()
        if thread_id is None:
            return None
        return ThreadRequest(thread_id, self.command, self.multitask)


class RunAccepted(BaseModel):
    run_id: str
    status: str
    stream_url: str
    status_url: str


class RunSnapshot(BaseModel):
    run_id: str
    route: str
    thread_id: str | None = None
    status: str
    trace_id: str
    created_at: float
    ended_at: float | None
    last_seq: int
    subscribers: int
    on_disconnect: str
    output: Any
    usage: dict[str, Any] | None
    timings: dict[str, Any] | None
    error: dict[str, Any] | None
    finish_reason: str | None
    metadata: dict[str, Any]
    #: Calls waiting for a human within the live run (``@action(requires_approval=True)``).
    approvals: list[dict[str, Any]] | None = None
