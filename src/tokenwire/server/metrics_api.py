"""``GET /metrics``: the gateway's Prometheus exposition."""

from __future__ import annotations

import asyncio

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
        # Rendering walks every series (seconds for a large registry): in a worker thread,
        # so a scrape never stalls the streams on the event loop. The metrics lock per
        # series, so rendering beside the exporters' observations is safe.
        body = await asyncio.to_thread(gateway.telemetry.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router
