"""Every protocol front-end of a gateway, as routers to mount next to the native API.

app.include_router(create_router(gateway))          # native SSE API
for router in create_protocol_routers(gateway):     # OpenAI, LangServe, AI SDK, WS, LangGraph
    app.include_router(router)
"""

from __future__ import annotations

from fastapi import APIRouter

from tokenwire.gateway import Gateway
from tokenwire.server.ai_sdk_api import create_ai_sdk_router
from tokenwire.server.langgraph import create_langgraph_router
from tokenwire.server.langserve_api import create_langserve_router
from tokenwire.server.openai_api import create_openai_router
from tokenwire.server.responses_api import create_responses_router
from tokenwire.server.ws_api import create_ws_router

__all__ = ["create_protocol_routers"]


def create_protocol_routers(gateway: Gateway) -> list[APIRouter]:
    return [
        create_openai_router(gateway),
        create_responses_router(gateway),
        create_langserve_router(gateway),
        create_ai_sdk_router(gateway),
        create_ws_router(gateway),
        create_langgraph_router(gateway),
    ]
