"""LangSmith traces of a masked route: masked by LangSmith's own client, before they leave.

LangChain traces a run through the ``LangChainTracer`` it finds among the run's callbacks,
and adds one with the process-wide client only when there is none. Every gateway run carries
a tracer of its own (``gateway/run_tracing.py``); a masked route's tracers share one client,
built with ``anonymizer=`` (LangSmith's hook for "masking serialized run inputs, outputs,
metadata and error, before sending to the API") set to the route's masking: every nested
run — model calls, tools, the graph's steps — is masked like the route's other sinks, while
other routes trace through LangSmith's process-wide client.
``anonymizer`` rather than ``hide_inputs``/``hide_outputs`` callables: it also covers the
error (a tool's traceback repeats its arguments) and metadata, and it leaves
``LANGSMITH_HIDE_INPUTS``/``LANGSMITH_HIDE_OUTPUTS=true`` in force (they hide everything).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langsmith import Client

__all__ = ["MaskedTracing"]


class MaskedTracing:
    """One route's LangSmith client (made on the first traced run, then shared by them)."""

    def __init__(self, mask: Callable[[Any], Any]) -> None:
        self._mask = mask
        self._client: Client | None = None
        self._lock = threading.Lock()

    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                from langsmith import Client

                self._client = Client(anonymizer=self._anonymize)
            return self._client

    def flush(self) -> None:
        """Send what this route's client still holds (blocking: call it in a thread)."""
        client = self._client
        if client is not None:
            client.flush()

    def _anonymize(self, data: dict[str, Any]) -> dict[str, Any]:
        masked = self._mask(data)
        return masked if isinstance(masked, dict) else {"value": masked}
