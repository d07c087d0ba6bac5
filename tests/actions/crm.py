"""A counting system of record: a real HTTP server on 127.0.0.1 that records every ticket
it is asked to create (the ``crm`` fixture serves one)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request


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
