"""Errors before the first byte: real status codes with an RFC 9457 problem body."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from tokenwire.protocols.refusals import PROBLEM, Refusal

__all__ = ["problem", "refused"]


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        headers=headers,
        media_type=PROBLEM,
    )


def refused(refusal: Refusal) -> JSONResponse:
    """The response of a refused run (:mod:`tokenwire.protocols.refusals` spells it)."""
    return JSONResponse(
        refusal.body,
        status_code=refusal.status,
        headers=refusal.headers,
        media_type=refusal.media_type,
    )
