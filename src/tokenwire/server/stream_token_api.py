"""``POST /v1/runs/{run_id}/stream-token``: a short-lived URL of a run's stream for
``EventSource``, which cannot send an API key.

Only a caller that may read the run gets one (its owner, or a moderator: the auth
middleware and ``Gateway.find_run`` check, as for the stream itself). The answer is
``{"token", "expires_at", "url"}``; ``url`` is the run's stream with ``?token=``, which
admits ``GET`` on that stream only, as that caller, until ``expires_at``
(:mod:`tokenwire.security.stream_tokens`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from tokenwire.errors import ClusterUnavailable
from tokenwire.gateway import Gateway
from tokenwire.protocols.refusals import native_refusal
from tokenwire.security.principal import current_principal
from tokenwire.security.stream_tokens import StreamTokensUnavailable
from tokenwire.server.problems import problem, refused

__all__ = ["add_stream_token_route"]


def add_stream_token_route(router: APIRouter, gateway: Gateway) -> None:
    """Serve the endpoint on ``router`` (the native API's: wherever it is mounted)."""

    @router.post("/v1/runs/{run_id}/stream-token", responses={404: {}, 503: {}})
    async def stream_token(run_id: str, request: Request) -> Response:
        try:
            run = await gateway.find_run(run_id)
        except ClusterUnavailable as exc:
            return refused(native_refusal(exc))
        if run is None:
            return problem(404, "Unknown run", f"no run {run_id!r} (it may have expired)")
        try:
            issued = gateway.stream_tokens.issue(run.id, current_principal.get())
        except StreamTokensUnavailable as exc:
            return problem(503, "Stream tokens unavailable", str(exc))
        url = request.url_for("rejoin", run_id=run.id).include_query_params(token=issued.token)
        body = {"token": issued.token, "expires_at": issued.expires_at_iso, "url": str(url)}
        # A bearer grant: no cache may keep it.
        return JSONResponse(body, headers={"Cache-Control": "no-store"})
