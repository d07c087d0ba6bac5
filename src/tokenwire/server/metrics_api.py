"""``GET /metrics``: the gateway's Prometheus exposition.

A scraper asking for OpenMetrics (``Accept: application/openmetrics-text``, as Prometheus
does with exemplar storage on) gets it, exemplars (trace ids) included; any other gets the
classic text format.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS
from starlette.responses import Response

from tokenwire.gateway import Gateway

__all__ = ["create_metrics_router"]


def create_metrics_router(gateway: Gateway) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}, OPENMETRICS: {}}}},
    )
    async def metrics(request: Request) -> Response:
        # Rendering walks every series (seconds for a large registry): in a worker thread,
        # so a scrape never stalls the streams on the event loop. The metrics lock per
        # series, so rendering beside the exporters' observations is safe.
        accept = request.headers.get("accept", "")
        body, content_type = await asyncio.to_thread(gateway.telemetry.metrics.exposition, accept)
        return Response(body, headers={"content-type": content_type})

    return router
