"""A FastAPI route whose endpoint takes the ``Request`` itself and nothing else.

Documented like any route (declare parameters and the body through ``openapi_extra``), but
called without FastAPI's per-request machinery — dependency solving, body parsing, response
validation — which is a large part of a stream's fixed cost. For the hot endpoints only.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["DirectRoute"]


class DirectRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint
