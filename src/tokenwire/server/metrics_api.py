"""``GET /metrics``: the gateway's Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from tokenwire.gateway import Gateway

__all__ = ["create_metrics_router"]


def create_metrics_router(gateway: Gateway) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        return Response(gateway.telemetry.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
