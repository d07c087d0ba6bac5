"""Request bodies: parsed by the one client JSON parser, refused in each protocol's format.

FastAPI parses JSON bodies with Python's ``json``, which lets lone surrogates through (see
:mod:`tokenwire.protocols.client_json`). Every router that declares a body uses
:class:`JSONRoute` (or ``validating_route``, built on it), whose requests parse with
``client_json.loads``; its refusals are ``json.JSONDecodeError`` s, which FastAPI reports as
the same ``json_invalid`` validation error it raises for malformed JSON.

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

from tokenwire.protocols.client_json import loads
from tokenwire.server.problems import problem

__all__ = ["JSONRequest", "JSONRoute", "ProblemRoute", "describe_errors", "validating_route"]

InvalidHandler = Callable[[list[str]], Response]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class JSONRequest(Request):
    """A request whose ``json()`` is the client JSON parser's."""

    _parsed: Any

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            self._parsed = loads(await self.body())
        return self._parsed


class JSONRoute(APIRoute):
    """A FastAPI route whose body is parsed by ``client_json.loads``."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return handle


def describe_errors(errors: Any) -> list[str]:
    """Readable one-line reasons (``body.messages.0.role: Input should be ...``)."""
    lines = []
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            lines.append(f"body: not valid JSON: {reason}")
            continue
        where = ".".join(str(part) for part in error.get("loc", ())) or "body"
        lines.append(f"{where}: {error.get('msg', 'invalid')}")
    return lines


def validating_route(on_invalid: InvalidHandler) -> type[APIRoute]:
    class ValidatingRoute(JSONRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return on_invalid(describe_errors(exc.errors()))

            return handle

    return ValidatingRoute


def _invalid_problem(errors: list[str]) -> Response:
    return problem(422, "Invalid request", "; ".join(errors), errors=errors)


#: The native API's routes: a parameter or body that fails validation is a problem+json 422,
#: like every other refusal of that API.
ProblemRoute = validating_route(_invalid_problem)
