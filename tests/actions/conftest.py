"""The actions tests' system of record: a real HTTP server on 127.0.0.1 that counts the
tickets it was asked to create."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from tokenwire.testing import BackgroundServer


class Crm:
    """A system of record that counts the tickets it was asked to create."""

    def __init__(self) -> None:
        self.tickets: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/tickets")
        async def create(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.tickets.append({**body, "key": request.headers.get("idempotency-key")})
            return {"id": len(self.tickets)}

        self.app = app


@pytest.fixture
def crm() -> Iterator[tuple[Crm, str]]:
    crm = Crm()
    with BackgroundServer(crm.app) as server:
        yield crm, server.url
