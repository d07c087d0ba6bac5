"""Errors before the first byte: real status codes with an RFC 9457 problem body."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from tokenwire.cluster.replica import ClusterUnavailable

__all__ = ["problem", "runs_unavailable"]


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )


def runs_unavailable(exc: ClusterUnavailable) -> JSONResponse:
    """A run lookup while Redis, where replicas share runs, is away: retry, it may exist."""
    return problem(
        503,
        "Runs unavailable",
        "runs shared between replicas cannot be looked up right now; retry shortly",
        headers={"Retry-After": str(exc.retry_after)},
    )
