"""The gateway: a facade (:class:`Gateway`) over the services it is built from, an
admission gate and a run launcher.

- :mod:`.facade` — :class:`Gateway`: routes, ``start_run``, run lookup, lifespan and drain.
- :mod:`.services` — :class:`Services`: broker, registry, cluster, telemetry, audit.
- :mod:`.hooks` — :class:`Hooks`: per-key admission, key budgets, run-end steps.
- :mod:`.admission` — the gate every start passes: idempotency replay and claim, per-key
  limits, and their release, as one ``async with``.
- :mod:`.launcher` — a run admitted becomes a registered run with its task.
- :mod:`.feedback` — users' scores of runs: audited, measured, sent to LangSmith, observed.
"""

from tokenwire.gateway.facade import Gateway
from tokenwire.gateway.feedback import Feedback, FeedbackObserver
from tokenwire.gateway.hooks import Admission, Hooks
from tokenwire.gateway.services import Services

__all__ = ["Admission", "Feedback", "FeedbackObserver", "Gateway", "Hooks", "Services"]
