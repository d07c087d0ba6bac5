"""Why a run could not start, independent of how a protocol spells it.

``Gateway.start_run`` refuses with one of four exceptions; every protocol front-end maps
them through :func:`refusal` and then into its own error format, so the status codes
agree across protocols.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenwire.gateway import IdempotencyConflict, UnknownRoute
from tokenwire.runs.inputs import InvalidRequest
from tokenwire.runs.registry import RegistryFull

__all__ = ["START_ERRORS", "Refusal", "refusal"]

#: The exceptions ``Gateway.start_run`` raises before anything runs.
START_ERRORS = (UnknownRoute, InvalidRequest, IdempotencyConflict, RegistryFull)


@dataclass(frozen=True, slots=True)
class Refusal:
    """``kind``: ``unknown_route``, ``invalid_request``, ``idempotency_conflict`` or
    ``overloaded``; ``message`` is safe to show to the client."""

    status: int
    kind: str
    message: str
    errors: tuple[str, ...] = ()


def refusal(exc: Exception) -> Refusal:
    if isinstance(exc, UnknownRoute):
        return Refusal(404, "unknown_route", f"no route named {exc.args[0]!r}")
    if isinstance(exc, InvalidRequest):
        return Refusal(422, "invalid_request", str(exc), tuple(exc.errors))
    if isinstance(exc, IdempotencyConflict):
        return Refusal(422, "idempotency_conflict", str(exc))
    if isinstance(exc, RegistryFull):
        return Refusal(503, "overloaded", f"too many live runs: {exc}")
    raise TypeError(f"not a start_run refusal: {exc!r}") from exc
