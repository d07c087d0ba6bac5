"""The web UI's server side: static pages under ``/ui/`` and the route list they start from.

The pages are plain files from :data:`tokenwire.ui.STATIC_DIR`; everything they show comes
from the public API (native runs, ``console_api``), so the UI has no private back door.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from langchain_core.runnables import Runnable
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from tokenwire.gateway import Gateway
from tokenwire.langchain.custom_events import is_graph
from tokenwire.runs.inputs import chat_shape, resolve_ref
from tokenwire.server.guard import guarded
from tokenwire.ui import STATIC_DIR

__all__ = ["UiFiles", "create_ui_router", "input_kind"]

# A second wall behind the markdown renderer's escaping: even if model output ever became
# markup, no inline script, no foreign image beacon and no framing would work.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class UiFiles(StaticFiles):
    """The UI's static files, each with the security headers above."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR, html=True)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(_SECURITY_HEADERS)
        return response


def input_kind(runnable: Runnable[Any, Any]) -> dict[str, Any]:
    """How the playground shapes a user's message for this runnable — the rule the OpenAI
    endpoint follows (:func:`~tokenwire.runs.inputs.chat_shape`):

    ``messages``: a graph or chain taking ``{"messages": [...]}`` (LangGraph agents);
    ``chat``: a chat model taking a list of messages (so the conversation can be sent);
    ``field``: an object whose one required field (``field``) is a string — an LCEL chain
    from ``ChatPromptTemplate.from_template("…{question}")`` — gets the text there;
    ``form``: any other object: the playground asks for its ``fields``;
    ``text``: anything else gets the message text as a plain string.
    """
    try:
        shape = chat_shape(runnable)
    except Exception:  # an exotic schema must not break the UI: fall back to plain text
        return {"input": "text"}
    if shape.kind == "field":
        return {"input": "field", "field": shape.field}
    if shape.kind == "form" and shape.schema.get("type") == "object":
        return {"input": "form", "fields": _form_fields(shape.schema)}
    if shape.kind in ("chat", "messages"):
        return {"input": shape.kind}
    return {"input": "text"}


def _form_fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Each property of an object schema as the form shows it: ``type`` one of JSON's
    (``json`` for anything a single input cannot hold)."""
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        resolved = resolve_ref(spec, schema)
        kind = resolved.get("type")
        fields.append(
            {
                "name": name,
                "title": resolved.get("title") or name,
                "type": kind if kind in _SIMPLE_TYPES else "json",
                "required": name in required,
            }
        )
    return fields


_SIMPLE_TYPES = frozenset({"string", "integer", "number", "boolean"})


def create_ui_router(gateway: Gateway) -> APIRouter:
    """``GET /v1/routes`` (what the playground offers) and ``/ui`` → ``/ui/``.

    Mount the pages themselves with ``app.mount("/ui", UiFiles(), name="ui")``.
    """
    router = APIRouter(route_class=guarded(APIRoute, gateway))
    routes = [
        {
            "name": route.name,
            "description": route.description,
            "mode": route.mode,
            **input_kind(route.runnable),
            # A LangGraph graph runs on threads: the playground sends one per conversation.
            "threads": is_graph(route.runnable),
        }
        for route in gateway.routes.values()
    ]

    @router.get("/v1/routes")
    async def list_routes() -> dict[str, Any]:
        return {"routes": routes}

    @router.get("/ui", include_in_schema=False)
    async def ui_root(request: Request) -> Response:
        # Relative to root_path, so the UI also works behind a path-prefixing proxy.
        return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/", status_code=308)

    return router
