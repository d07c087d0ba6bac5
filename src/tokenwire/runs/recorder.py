"""The run recorder: turns what the adapter reports into canonical events on the log."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from tokenwire.broker.base import EventLog
from tokenwire.events import EventType

__all__ = ["RunRecorder"]

_TOKEN = EventType.TOKEN.value
_REASONING = EventType.REASONING.value


class RunRecorder:
    """Implements ``RunSink`` for one run: a token costs a timestamp and an append.

    It also keeps what the run delivered so far (``text``), summed usage and timings, so
    ``GET /v1/runs/{id}`` can answer while the run is live.
    """

    __slots__ = (
        "_append",
        "_parts",
        "first_token_at",
        "input_tokens",
        "last_token_at",
        "models",
        "output_tokens",
        "started_at",
        "tool_calls",
        "usage_reports",
    )

    def __init__(self, log: EventLog) -> None:
        self._append = log.append
        self._parts: list[str] = []
        self.started_at = perf_counter()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_reports = 0
        self.tool_calls = 0
        self.models: list[str] = []

    # -- RunSink -------------------------------------------------------------------------
    def token(self, text: str) -> None:
        now = perf_counter()
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now
        self._parts.append(text)
        self._append(_TOKEN, {"text": text})

    def reasoning(self, text: str) -> None:
        self._append(_REASONING, {"text": text})

    def tool_start(self, call_id: str, name: str, args: Any) -> None:
        self.tool_calls += 1
        self._append(EventType.TOOL_START, {"call_id": call_id, "name": name, "args": args})

    def tool_end(self, call_id: str, name: str, output: Any, error: str | None = None) -> None:
        data: dict[str, Any] = {"call_id": call_id, "name": name, "output": output}
        if error is not None:
            data["error"] = error
        self._append(EventType.TOOL_END, data)

    def retrieval(self, documents: list[dict[str, Any]]) -> None:
        self._append(EventType.RETRIEVAL, {"documents": documents})

    def usage(self, input_tokens: int, output_tokens: int, model: str | None = None) -> None:
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.usage_reports += 1
        if model and model not in self.models:
            self.models.append(model)

    # -- what the run delivered ------------------------------------------------------------
    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def token_events(self) -> int:
        return len(self._parts)

    def usage_data(self) -> dict[str, Any]:
        """The ``usage`` event's data. Without a provider report, a documented estimate:
        about four characters per token for the delivered text (input unknown → 0)."""
        if self.usage_reports:
            return {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "estimated": False,
                "cost_usd": None,
            }
        return {
            "input_tokens": 0,
            "output_tokens": (len(self.text) + 3) // 4,
            "estimated": True,
            "cost_usd": None,
        }

    def timings(self) -> dict[str, Any]:
        end = perf_counter()
        ttft = self.first_token_at
        return {
            "ttft_ms": None if ttft is None else round((ttft - self.started_at) * 1000, 3),
            "duration_ms": round((end - self.started_at) * 1000, 3),
        }
