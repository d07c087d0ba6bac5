"""One record per finished run: what every exporter receives."""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["RunRecord"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A finished run as telemetry sees it. Times in seconds; ``started_at`` is epoch time.

    ``gaps`` holds every inter-token gap (for the per-chunk histogram); the JSONL form
    keeps only its summary. ``key_alias`` is the caller's bounded label (a key's alias or
    department, a token's department, ``jwt``), never a token's subject.
    """

    run_id: str
    trace_id: str
    route: str
    model: str | None
    provider: str
    key_alias: str
    cohort: str
    status: str
    error_code: str | None
    started_at: float
    duration_s: float
    ttft_s: float | None
    itl_p50_s: float | None
    itl_p95_s: float | None
    itl_max_s: float | None
    stalls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    estimated: bool
    cost_usd: float | None
    token_events: int
    tokens_after_disconnect: int
    #: The wire protocol the run was started on: native, openai, langserve, ai_sdk, ws.
    protocol: str = "native"
    #: ``gen_ai.operation.name``: every route streams a chat (as the OTLP span names it).
    operation: str = "chat"
    fallback_used: Any = None
    #: (action, rule) of every guardrail decision, in order.
    guardrail_actions: tuple[tuple[str, str], ...] = ()
    #: (action, outcome, calls) of the run's ``@action`` calls: succeeded, failed, replayed.
    actions: tuple[tuple[str, str, int], ...] = ()
    gaps: array[float] = field(default_factory=lambda: array("d"), repr=False)
    #: Arrival → run launch (auth, validation, admission, a thread's wait, a busy loop).
    queue_s: float = 0.0
    #: Token logged → written to a client's socket, over the run's writes (None: no write).
    delivery_lag_p95_s: float | None = None
    delivery_lag_max_s: float | None = None
    #: (seconds after arrival, provider's gap) of each stall: only what the provider took,
    #: the time the gateway's loop was blocked inside a gap taken out (``stalls`` counts them).
    stall_gaps: tuple[tuple[float, float], ...] = ()
    #: Every write's delivery lag (for the histogram); the JSONL form keeps the summary.
    delivery_lags: array[float] = field(default_factory=lambda: array("d"), repr=False)
    #: The TTFT histogram already has this run (observed at its first token).
    ttft_observed: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["gaps"]
        del data["delivery_lags"]
        del data["ttft_observed"]
        return data
