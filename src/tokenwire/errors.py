"""Every error tokenwire raises on purpose, in one tree::

    TokenwireError
     ├── ConfigError (ValueError)          a configuration that cannot work
     ├── RunRefused                        a run refused before anything ran:
     │    │                                ``status`` (HTTP), ``code``, ``retry_after``
     │    ├── UnknownRoute (LookupError)      404  no route of that name
     │    ├── InvalidRequest (ValueError)     422  input or config the route cannot take
     │    ├── IdempotencyConflict (ValueError) 422  a key reused with another request
     │    ├── UnknownThread (LookupError)     404  no thread of that id the caller may see
     │    ├── ThreadBusy                      409  the thread has a live run (``multitask``)
     │    ├── Overloaded                      503  come back in ``retry_after`` seconds
     │    │    ├── RegistryFull                    every retained run is still live
     │    │    └── ClusterUnavailable              Redis, shared by the replicas, is away
     │    └── RateLimited                     429  a per-key limit, ``retry_after`` seconds
     ├── FeedbackRefused                   a user's feedback on a run was not taken:
     │    ├── InvalidFeedback (ValueError)    422  a score outside 0..1, a comment too long
     │    └── NotRunOwner (PermissionError)   403  only the key that started a run scores it
     └── GuardFailed                       a guardrail raised: its run fails (``internal``)

A :class:`RunRefused` says everything a client is told: its ``status``, ``code``,
``detail`` (safe to show) and ``retry_after``. Each protocol spells it in its own format in
one place, :mod:`tokenwire.protocols.refusals`; OpenAI, whose vocabulary has no 422, says
400. Errors of a run once it started are not exceptions to its client but its ``error``
and ``run.end`` events.

This module is the bottom layer: it imports nothing from tokenwire.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ClusterUnavailable",
    "ConfigError",
    "FeedbackRefused",
    "GuardFailed",
    "IdempotencyConflict",
    "InvalidFeedback",
    "InvalidRequest",
    "NotRunOwner",
    "Overloaded",
    "RateLimited",
    "RegistryFull",
    "RunRefused",
    "ThreadBusy",
    "TokenwireError",
    "UnknownRoute",
    "UnknownThread",
]


class TokenwireError(Exception):
    """The base of every error tokenwire raises on purpose."""


class ConfigError(TokenwireError, ValueError):
    """A configuration that cannot work: the message names the setting and its source."""


class RunRefused(TokenwireError):
    """A run was refused before anything ran: nothing started, nothing is held."""

    #: The HTTP status every protocol answers with (OpenAI's 400 for 422 aside).
    status: int = 400
    #: The refusal's machine-readable name (a WebSocket nack's ``code``).
    code: str = "refused"

    def __init__(
        self, message: str, *, retry_after: float | None = None, errors: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        #: Seconds until a retry may succeed (the ``Retry-After`` header); None: do not wait.
        self.retry_after = retry_after
        #: One readable line per thing wrong with the request.
        self.errors = tuple(errors)

    @property
    def detail(self) -> str:
        """What the client is told (``str(exc)`` may say more, for the log)."""
        return str(self)


class UnknownRoute(RunRefused, LookupError):
    status = 404
    code = "unknown_route"

    def __init__(self, route: str) -> None:
        super().__init__(f"no route named {route!r}")
        self.route = route


class InvalidRequest(RunRefused, ValueError):
    """The request cannot run; ``errors`` are readable one-line reasons."""

    status = 422
    code = "invalid_request"

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors), errors=errors)


class IdempotencyConflict(RunRefused, ValueError):
    """An ``Idempotency-Key`` was reused with a different request (or is held by a run
    that is still starting)."""

    status = 422
    code = "idempotency_conflict"


class UnknownThread(RunRefused, LookupError):
    """No thread of that id — or one the caller may not see, which is told the same way."""

    status = 404
    code = "unknown_thread"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"no thread {thread_id!r}")
        self.thread_id = thread_id


class ThreadBusy(RunRefused):
    """The thread already has a live run, and the start's ``multitask`` strategy is
    ``reject``: runs of one thread never interleave."""

    status = 409
    code = "thread_busy"

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(
            f"thread {thread_id!r} has a live run {run_id!r}; wait for it to end, or start "
            'with multitask = "enqueue", "interrupt" or "rollback"'
        )
        self.thread_id = thread_id
        self.run_id = run_id


class Overloaded(RunRefused):
    """The gateway cannot take the run now; retry in ``retry_after`` seconds."""

    status = 503
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float = 1) -> None:
        super().__init__(message, retry_after=retry_after)


class RegistryFull(Overloaded):
    """Every retained run is still live and the limit is reached."""

    def __init__(self, max_runs: int) -> None:
        super().__init__(f"too many live runs: {max_runs} runs are live")


class ClusterUnavailable(Overloaded):
    """Redis, through which replicas share runs, cannot be reached: a run elsewhere can be
    neither found nor ruled out. ``str()`` says why, for the log; clients get ``detail``."""

    code = "unavailable"

    @property
    def detail(self) -> str:
        return "runs shared between replicas cannot be looked up right now; retry shortly"

    def __repr__(self) -> str:
        return f"ClusterUnavailable({str(self)!r})"


class RateLimited(RunRefused):
    """A per-key limit (requests, tokens, concurrent streams, a budget) is reached."""

    status = 429
    code = "rate_limited"

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason, retry_after=max(retry_after, 1))


class GuardFailed(TokenwireError):
    """A guard raised while checking the stream: the run fails (``internal``); never a
    reason to retry the upstream or to fall back, which did nothing wrong."""


class FeedbackRefused(TokenwireError):
    """A user's feedback on a run was not taken (``POST /v1/runs/{id}/feedback``)."""

    status: int = 422


class InvalidFeedback(FeedbackRefused, ValueError):
    """A score that is not a number in [0, 1], or a comment that is not a short string."""

    status = 422


class NotRunOwner(FeedbackRefused, PermissionError):
    """Feedback is the run's owner's (the key that started it): a moderator may read
    anyone's run, but a score from anyone else would skew what users think of it."""

    status = 403
