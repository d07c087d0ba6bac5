"""Clearing the ledger, on a server of its own so other tests' records are not disturbed."""

from __future__ import annotations

import httpx

from tokenwire.mock import MockLedger, MockProfile, create_mock_app
from tokenwire.server.background import BackgroundServer


def test_delete_clears_requests_and_default_profile_applies() -> None:
    app = create_mock_app(MockProfile(tokens=3))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        body = {"model": "mock", "messages": [{"role": "user", "content": "a b c d e"}]}
        reply = client.post("/v1/chat/completions", json=body).json()
        assert reply["choices"][0]["message"]["content"] == "You said: a"
        assert client.get("/mock/stats").json() == {"open_streams": 0, "requests": 1}
        assert client.delete("/mock/requests").status_code == 204
        assert client.get("/mock/requests").json() == []
        ledger = app.state.ledger
        assert isinstance(ledger, MockLedger) and ledger.records == []
