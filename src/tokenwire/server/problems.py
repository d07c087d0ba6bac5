"""Errors before the first byte: real status codes with an RFC 9457 problem body."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["problem"]


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra},
        status_code=status,
        headers=headers,
        media_type="application/problem+json",
    )
