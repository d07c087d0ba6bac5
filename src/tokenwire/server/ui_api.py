"""The web UI's server side: static pages under ``/ui/`` and the route list they start from.

The pages are plain files from :data:`tokenwire.ui.STATIC_DIR`; everything they show comes
from the public API (native runs, ``console_api``), so the UI has no private back door.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from langchain_core.runnables import Runnable
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from tokenwire.gateway import Gateway
from tokenwire.langchain.custom_events import is_graph
from tokenwire.server.guard import guarded
from tokenwire.ui import STATIC_DIR

__all__ = ["UiFiles", "create_ui_router", "input_kind"]

InputKind = Literal["text", "chat", "messages"]

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


def input_kind(runnable: Runnable[Any, Any]) -> InputKind:
    """How the playground should shape a user's message for this runnable.

    ``messages``: a graph or chain taking ``{"messages": [...]}`` (LangGraph agents);
    ``chat``: a chat model taking a list of messages (so the conversation can be sent);
    ``text``: anything else gets the message text as a plain string.
    """
    try:
        schema = runnable.get_input_jsonschema()
    except Exception:  # an exotic schema must not break the UI: fall back to plain text
        return "text"
    if "messages" in (schema.get("properties") or {}):
        return "messages"
    options = schema.get("anyOf") or [schema]
    if any(option.get("type") == "array" for option in options):
        return "chat"
    return "text"


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
            "input": input_kind(route.runnable),
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
