"""The auditor's read API: ``GET /v1/audit/records`` and ``GET /v1/audit/verify``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import JSONResponse, Response

from tokenwire.audit.chain import parse_anchor
from tokenwire.audit.verify import verify
from tokenwire.gateway import Gateway
from tokenwire.server.guard import guarded
from tokenwire.server.problems import problem
from tokenwire.server.validation_api import ProblemRoute

__all__ = ["MAX_SEQUENCE", "create_audit_router"]

#: Sequences are 64-bit signed integers in SQLite and PostgreSQL: a larger ``after`` is a
#: 422, not an overflow inside the database driver.
MAX_SEQUENCE = 2**63 - 1


def create_audit_router(gateway: Gateway) -> APIRouter:
    """Auditor-only routes: the ``auditor`` role is required for every ``/v1/audit`` path in
    one place, the access table the auth middleware reads (``tokenwire.security.access``)."""
    router = APIRouter(prefix="/v1/audit", route_class=guarded(ProblemRoute, gateway))

    @router.get("/records", responses={404: {}})
    async def audit_records(
        after: Annotated[int, Query(ge=0, le=MAX_SEQUENCE)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        run_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        """Records with ``sequence > after``, oldest first; page on with ``next_after``.
        With ``run_id``: that run's record and the feedback entries given on it."""
        if gateway.audit is None:
            return _disabled()
        store = gateway.audit.store
        if run_id is not None:
            return JSONResponse({"records": await store.records_of(run_id, limit)})
        records = await store.page(after, limit)
        next_after = records[-1]["sequence"] if records else after
        return JSONResponse({"records": records, "next_after": next_after})

    @router.get("/verify", responses={404: {}})
    async def audit_verify(expect_head: str | None = None) -> Response:
        """Walk the whole chain (a full scan): ``ok``, ``head`` and the first bad sequence."""
        if gateway.audit is None:
            return _disabled()
        try:
            parse_anchor(expect_head)
        except ValueError as exc:
            return problem(422, "Invalid chain head", str(exc))
        result = await verify(gateway.audit.store, expect_head=expect_head)
        return JSONResponse(result.to_dict())

    return router


def _disabled() -> Response:
    return problem(404, "Audit trail disabled", "this gateway runs with audit_enabled = false")
