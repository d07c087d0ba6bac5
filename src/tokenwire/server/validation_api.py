"""Request validation errors in each protocol's own error format.

FastAPI answers a body that fails validation with its own 422 JSON. A protocol whose
clients expect another shape (OpenAI's ``{"error": {...}}``) declares its routes with
``route_class=validating_route(on_invalid)``: the OpenAPI schema still comes from the
typed parameters, only the error response changes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["describe_errors", "validating_route"]

InvalidHandler = Callable[[list[str]], Response]


def describe_errors(errors: Any) -> list[str]:
    """Readable one-line reasons (``body.messages.0.role: Input should be ...``)."""
    lines = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ())) or "body"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    return lines


def validating_route(on_invalid: InvalidHandler) -> type[APIRoute]:
    class ValidatingRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return on_invalid(describe_errors(exc.errors()))

            return handle

    return ValidatingRoute
