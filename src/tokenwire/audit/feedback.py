"""A user's feedback on a run, as the audit trail keeps it: an entry of its own in the chain.

Appended, never merged into the run's record: a record is hashed once, when its run ends,
and rewriting it later would break every link after it (``verify`` would report an edited
record). A feedback entry is chained like any record — so deleting or editing a score is
as detectable as editing a run — and linked to its run by ``run_id`` (an indexed column):
``AuditStore.records_of(run_id)`` returns the run's record followed by its feedback.

Its body says ``kind: "feedback"``; its ``status`` column is ``"feedback"`` (the column
cannot be empty, and no run status is spelled so), which is how SQL tells entries from
runs. A run record has no ``kind``.
"""

from __future__ import annotations

from typing import Any

from tokenwire.audit.record import plain_entry

__all__ = ["FEEDBACK_KIND", "FEEDBACK_STATUS", "feedback_entry"]

FEEDBACK_KIND = "feedback"
#: The ``status`` column of a feedback entry.
FEEDBACK_STATUS = "feedback"


def feedback_entry(
    *,
    run_id: str,
    route: str,
    key_alias: str | None,
    trace_id: str,
    cohort: str,
    score: float,
    comment: str | None,
    given_at: float,
) -> dict[str, Any]:
    """The entry's fields (the store adds ``sequence``, ``recorded_at`` and the hashes).
    ``comment`` as the gateway may keep it (masked on a route that masks its input)."""
    return plain_entry(
        {
            "kind": FEEDBACK_KIND,
            "run_id": run_id,
            "route": route,
            "status": FEEDBACK_STATUS,
            "key_alias": key_alias,
            "trace_id": trace_id,
            "cohort": cohort,
            "score": score,
            "comment": comment,
            "given_at": given_at,
        }
    )
