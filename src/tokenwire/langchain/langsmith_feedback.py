"""Users' scores as LangSmith feedback on the traces the gateway's tracer sent.

A gateway run's LangSmith root run has the gateway run's id (``gateway/launcher.py`` sets
the config's ``run_id``; ``run_tracing.py`` traces it), and as a root run it is its own
trace: feedback names it as ``trace_id``, which lets the client batch the feedback in its
background queue rather than post it on the caller's thread. LangSmith wants the trace's
project (``session_id``) too — without it the client warns, and a SmithDB-only deployment
refuses — so the project the tracer used (``LANGSMITH_PROJECT``) is looked up once per
client and kept.

Blocking (the project's look-up is an HTTP request): call :meth:`LangSmithFeedback.send`
off the event loop.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from langsmith import Client

__all__ = ["FEEDBACK_KEY", "LangSmithFeedback"]

log = logging.getLogger("tokenwire.langsmith")

#: The feedback key the gateway's scores are filed under in LangSmith.
FEEDBACK_KEY = "user_score"


class LangSmithFeedback:
    """Sends scores; one per gateway (it keeps the projects' ids it looked up)."""

    def __init__(self) -> None:
        self._projects: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def send(
        self,
        trace_id: UUID,
        score: float,
        comment: str | None,
        *,
        client: Client | None = None,
        source: dict[str, Any] | None = None,
    ) -> None:
        """File ``score`` on the trace ``trace_id``: through ``client`` (a masked route's),
        else LangSmith's process-wide one."""
        from langsmith.run_trees import get_cached_client

        client = client or get_cached_client()
        client.create_feedback(
            trace_id=trace_id,
            key=FEEDBACK_KEY,
            score=score,
            comment=comment,
            source_info=source,
            session_id=self._project_id(client),
        )

    def _project_id(self, client: Client) -> str | None:
        from langsmith.utils import get_tracer_project

        name = get_tracer_project()
        if name is None:
            return None
        key = (client.api_url, name)
        with self._lock:
            known = self._projects.get(key)
        if known is not None:
            return known
        try:
            project = str(client.read_project(project_name=name).id)
        except Exception:
            # Not cached: the next score asks again (the project may not exist yet).
            log.warning("LangSmith project %r not found: feedback sent without it", name)
            return None
        with self._lock:
            self._projects[key] = project
        return project
