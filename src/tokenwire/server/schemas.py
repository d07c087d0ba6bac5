"""Request and response bodies of the native HTTP API (also the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RunAccepted", "RunRequest", "RunSnapshot"]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: Any = Field(description="The runnable's input, as its input schema describes.")
    config: dict[str, Any] | None = Field(
        default=None, description="`tags`, `metadata`, `run_name` and declared `configurable`."
    )
    on_disconnect: Literal["cancel", "continue"] | None = Field(
        default=None,
        description="When the last subscriber leaves: cancel after a grace period, or finish "
        "in the background. Default: the route's policy for streams, `continue` for 202 runs.",
    )
    metadata: dict[str, Any] | None = None


class RunAccepted(BaseModel):
    run_id: str
    status: str
    stream_url: str
    status_url: str


class RunSnapshot(BaseModel):
    run_id: str
    route: str
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
