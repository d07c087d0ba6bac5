"""A route: a named runnable and how its runs stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import Runnable

__all__ = ["DisconnectPolicy", "Route", "StreamMode"]

StreamMode = Literal["auto", "tokens", "events"]
DisconnectPolicy = Literal["cancel", "continue"]


@dataclass(frozen=True, slots=True)
class Route:
    """What ``POST /v1/routes/{name}/runs`` runs.

    ``mode``: ``tokens`` streams ``runnable.astream`` (cheapest; answer tokens only),
    ``events`` streams ``astream_events`` (tool, retrieval and reasoning events too),
    ``auto`` picks ``tokens`` for a bare chat model and ``events`` otherwise.
    ``answer_tag``: in events mode, only chat models with this tag produce ``token`` events
    (default: the outermost chat model).
    """

    name: str
    runnable: Runnable[Any, Any]
    mode: StreamMode = "auto"
    answer_tag: str | None = None
    on_disconnect: DisconnectPolicy = "cancel"
    description: str = ""
