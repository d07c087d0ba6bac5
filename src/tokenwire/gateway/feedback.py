"""A user's score of a run: checked, audited, measured, sent to LangSmith, observed.

``POST /v1/runs/{id}/feedback`` lands here (``Gateway.give_feedback``). Every score is
kept (a user who changes their mind gives a second one; the latest is the current):

* the audit trail chains it as an entry of its own, linked to the run's record by its
  run id (:mod:`tokenwire.audit.feedback` says why it is not merged into the record);
* ``tokenwire_feedback_score`` observes it by route and cohort;
* with LangSmith tracing on, it is filed as feedback on the run's trace (in a thread, off
  the loop: :mod:`tokenwire.langchain.langsmith_feedback`);
* the gateway's feedback observers (``Hooks.feedback``) are called with it — the port
  through which rollout analysis reads users' satisfaction by cohort.

A masked route's comment is masked wherever it is kept or sent, as its input is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from tokenwire.audit.feedback import feedback_entry
from tokenwire.audit.trail import AuditTrail
from tokenwire.errors import InvalidFeedback, NotRunOwner
from tokenwire.events import EventType
from tokenwire.langchain.langsmith_feedback import LangSmithFeedback
from tokenwire.routes import Route
from tokenwire.runs.run import Run
from tokenwire.security.principal import current_principal
from tokenwire.telemetry.metrics import GatewayMetrics

__all__ = ["MAX_COMMENT", "Feedback", "FeedbackIntake", "FeedbackObserver"]

log = logging.getLogger("tokenwire.feedback")

#: Characters a comment may have: a sentence or two, not a document.
MAX_COMMENT = 2000
#: How long closing the gateway waits for scores still on their way to LangSmith.
_SEND_WAIT_SECONDS = 5.0
#: A run's cohort when its ``run.start`` is not at hand (a log already evicted).
_DEFAULT_COHORT = "stream"


@dataclass(frozen=True, slots=True)
class Feedback:
    """One score of one run, as every consumer receives it."""

    run_id: str
    route: str
    #: The run's cohort, as its ``run.start`` said (``stream`` until rollout assigns others).
    cohort: str
    #: Who gave it: the run's owner (the key's alias).
    key_alias: str | None
    trace_id: str
    score: float
    #: As kept: masked on a route that masks its input.
    comment: str | None
    #: Wall-clock time (seconds since the epoch).
    given_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Called on the loop with each score taken; one that raises is logged, never fatal.
FeedbackObserver = Callable[[Feedback], None]


class FeedbackIntake:
    """The gateway's intake of scores (one per gateway; see the module's doc)."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        metrics: GatewayMetrics,
        audit: AuditTrail | None,
        observers: tuple[FeedbackObserver, ...] = (),
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._routes = routes
        self._metrics = metrics
        self._audit = audit
        self._observers = observers
        self._wall_clock = wall_clock
        self._langsmith = LangSmithFeedback()
        self._sending: set[asyncio.Task[None]] = set()

    def give(self, run: Run, score: Any, comment: Any = None) -> Feedback:
        """Take ``score`` (a number in [0, 1]) and an optional ``comment`` for ``run`` from
        the current caller. Raises ``NotRunOwner`` or ``InvalidFeedback``."""
        caller = current_principal.get().alias
        if run.owner is not None and run.owner != caller:
            raise NotRunOwner(f"run {run.id!r} was started by another key: only it scores it")
        route = self._routes.get(run.route)
        feedback = Feedback(
            run_id=run.id,
            route=run.route,
            cohort=cohort_of(run),
            key_alias=caller,
            trace_id=run.trace_id,
            score=checked_score(score),
            comment=_kept_comment(route, checked_comment(comment)),
            given_at=self._wall_clock(),
        )
        if self._audit is not None:
            self._audit.note(feedback_entry(**feedback.to_dict()))
        self._metrics.feedback_given(feedback.route, feedback.cohort, feedback.score)
        self._send_to_langsmith(feedback, route)
        for observer in self._observers:
            try:
                observer(feedback)
            except Exception:
                log.exception("a feedback observer failed on run %s", run.id)
        return feedback

    async def aclose(self) -> None:
        """Wait (a little) for the scores still on their way to LangSmith."""
        if self._sending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*self._sending, return_exceptions=True), _SEND_WAIT_SECONDS
                )

    def _send_to_langsmith(self, feedback: Feedback, route: Route | None) -> None:
        from langsmith.utils import tracing_is_enabled

        if not tracing_is_enabled():
            return
        masking = route.masking if route is not None else None
        client = masking.tracing.client() if masking is not None else None
        source = {
            "route": feedback.route,
            "cohort": feedback.cohort,
            "key_alias": feedback.key_alias,
        }
        sending = asyncio.get_running_loop().create_task(
            self._send(feedback, client, source), name=f"tokenwire-feedback-{feedback.run_id}"
        )
        self._sending.add(sending)
        sending.add_done_callback(self._sending.discard)

    async def _send(self, feedback: Feedback, client: Any, source: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(
                self._langsmith.send,
                # The LangSmith root run of a gateway run has the gateway run's id.
                UUID(hex=feedback.run_id),
                feedback.score,
                feedback.comment,
                client=client,
                source=source,
            )
        except Exception:
            log.exception("LangSmith did not take the feedback on run %s", feedback.run_id)


def checked_score(score: Any) -> float:
    """``score`` as a float in [0, 1]; ``InvalidFeedback`` for anything else (a bool too:
    ``true`` is no score)."""
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise InvalidFeedback(f"score must be a number from 0 to 1, not {type(score).__name__}")
    value = float(score)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidFeedback(f"score must be from 0 to 1, not {score!r}")
    return value


def checked_comment(comment: Any) -> str | None:
    """``comment`` stripped (None when empty); ``InvalidFeedback`` unless a short string."""
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise InvalidFeedback(f"comment must be a string, not {type(comment).__name__}")
    if len(comment) > MAX_COMMENT:
        raise InvalidFeedback(f"comment must be at most {MAX_COMMENT} characters")
    return comment.strip() or None


def cohort_of(run: Run) -> str:
    """The cohort the run's ``run.start`` announced: what every other record of it says."""
    head = run.log.since(0)[:1]
    if head and head[0].type == EventType.RUN_START.value:
        return str(head[0].data.get("cohort") or _DEFAULT_COHORT)
    return _DEFAULT_COHORT


def _kept_comment(route: Route | None, comment: str | None) -> str | None:
    masking = route.masking if route is not None else None
    if comment is None or masking is None or not masking.covers("input"):
        return comment
    return masking.text(comment)
