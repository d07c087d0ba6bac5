"""One record per finished run: what every exporter receives."""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

from tokenwire.langchain.steps import Step

__all__ = ["RunRecord", "cohort_label"]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A finished run as telemetry sees it. Times in seconds; ``started_at`` is epoch time.

    ``gaps`` holds every inter-token gap (for the per-chunk histogram); the JSONL form
    keeps only its summary, and leaves out ``steps`` and the shown input and output.
    ``key_alias`` is the caller's bounded label (a key's alias or department, a token's
    department, ``jwt``), never a token's subject.
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
    #: The caller's span (W3C ``traceparent``) the run continues, 16 hex digits.
    parent_span_id: str | None = None
    #: The route's runnable is a chat model (its run is one model's answer), not a chain.
    chat_model: bool = False
    #: Why a run that did not complete ended: its error message, or why it was cancelled.
    end_reason: str | None = None
    #: Model calls, tool calls and retrievals; times in seconds from the run's start.
    steps: tuple[Step, ...] = field(default=(), repr=False)
    #: The input and output as the client sent and saw them, masked as the route masks
    #: (None unless an exporter asked for them: ``otlp_capture_io``).
    shown_input: Any = field(default=None, repr=False)
    shown_output: Any = field(default=None, repr=False)
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
    #: The rollout variant that served the run (``stable``: the route's own target).
    variant: str = "stable"

    @property
    def cohort_label(self) -> str:
        """The metrics' ``cohort``: the mode (``stream``, ``batch``, ``shadow``), prefixed
        with a canary's name (``v2:stream``) — every value from the configuration."""
        return cohort_label(self.cohort, self.variant)

    #: Cancelled because its last client left (``on_disconnect = "cancel"``), not by a
    #: request: the dashboard counts it as a disconnect, not as an error or a user's Stop.
    disconnected: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in (
            "gaps",
            "steps",
            "shown_input",
            "shown_output",
            "delivery_lags",
            "ttft_observed",
        ):
            del data[name]
        return data


def cohort_label(cohort: str, variant: str) -> str:
    """The metrics' ``cohort`` of a run in mode ``cohort`` served by ``variant``."""
    if variant == "stable" or cohort == "shadow":
        return cohort
    return f"{variant}:{cohort}"
