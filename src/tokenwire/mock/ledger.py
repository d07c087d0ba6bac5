"""What the mock provider was asked and what it did: one :class:`RequestRecord` per request.

Times are ``time.monotonic()`` floats, so tests in the same process can compare them with
their own clock. ``ended_at`` is taken at the moment the outcome is known — for a client
disconnect, when uvicorn reports ``http.disconnect``, even while the reply is sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["MockLedger", "Outcome", "RequestRecord"]

Outcome = Literal["completed", "client_disconnected", "dropped", "error", "stalled"]


@dataclass(slots=True)
class RequestRecord:
    """One chat-completions request. ``outcome`` is ``None`` while the response is open."""

    seq: int
    request_id: str
    model: str
    stream: bool
    started_at: float
    first_token_at: float | None = None
    ended_at: float | None = None
    tokens_sent: int = 0
    outcome: Outcome | None = None
    status_code: int = 200
    fault: str | None = None
    #: The request body as received (a JSON object; ``None`` when it was not one), so a
    #: test can check what reached the provider: messages, tools, sampling parameters.
    body: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MockLedger:
    """Records of the most recent ``max_records`` requests and the count of open responses."""

    def __init__(self, max_records: int = 10_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._seq = 0
        self._open = 0

    @property
    def open_streams(self) -> int:
        """Responses (streaming or not) started and not yet ended."""
        return self._open

    @property
    def records(self) -> list[RequestRecord]:
        return list(self._records)

    def start(self, model: str, stream: bool, request_id: str | None = None) -> RequestRecord:
        self._seq += 1
        record = RequestRecord(
            seq=self._seq,
            request_id=request_id or f"mockreq-{self._seq:06d}",
            model=model,
            stream=stream,
            started_at=time.monotonic(),
        )
        self._records.append(record)
        self._open += 1
        return record

    def finish(
        self, record: RequestRecord, outcome: Outcome, status_code: int | None = None
    ) -> None:
        """End ``record`` now; later calls for the same record are ignored."""
        if record.outcome is not None:
            return
        record.ended_at = time.monotonic()
        record.outcome = outcome
        if status_code is not None:
            record.status_code = status_code
        self._open -= 1

    def find(self, request_id: str) -> RequestRecord | None:
        return next((r for r in reversed(self._records) if r.request_id == request_id), None)

    def clear(self) -> None:
        """Forget all records; open responses still end and update ``open_streams``."""
        self._records.clear()

    def stats(self) -> dict[str, int]:
        return {"open_streams": self._open, "requests": len(self._records)}
