"""Why a run could not start, independent of how a protocol spells it.

``Gateway.astart_run`` refuses with one of five exceptions; every protocol front-end maps
them through :func:`refusal` and then into its own error format, so the status codes
agree across protocols.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenwire.gateway import IdempotencyConflict, UnknownRoute
from tokenwire.runs.inputs import InvalidRequest
from tokenwire.runs.registry import RegistryFull
from tokenwire.security.limits import RateLimited

__all__ = ["START_ERRORS", "Refusal", "refusal"]

#: The exceptions ``Gateway.astart_run`` raises before anything runs.
START_ERRORS = (UnknownRoute, InvalidRequest, IdempotencyConflict, RegistryFull, RateLimited)


@dataclass(frozen=True, slots=True)
class Refusal:
    """``kind``: ``unknown_route``, ``invalid_request``, ``idempotency_conflict``,
    ``overloaded`` or ``rate_limited``; ``message`` is safe to show to the client;
    ``retry_after``: seconds, for the ``Retry-After`` header."""

    status: int
    kind: str
    message: str
    errors: tuple[str, ...] = ()
    retry_after: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}


def refusal(exc: Exception) -> Refusal:
    if isinstance(exc, UnknownRoute):
        return Refusal(404, "unknown_route", f"no route named {exc.args[0]!r}")
    if isinstance(exc, InvalidRequest):
        return Refusal(422, "invalid_request", str(exc), tuple(exc.errors))
    if isinstance(exc, IdempotencyConflict):
        return Refusal(422, "idempotency_conflict", str(exc))
    if isinstance(exc, RegistryFull):
        return Refusal(503, "overloaded", f"too many live runs: {exc}", retry_after=1)
    if isinstance(exc, RateLimited):
        return Refusal(429, "rate_limited", str(exc), retry_after=exc.retry_after)
    raise TypeError(f"not a start_run refusal: {exc!r}") from exc
