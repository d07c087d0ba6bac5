"""Stream tokens and WebSocket keys in a URL never reach the access log."""

from __future__ import annotations

import logging

from tokenwire.server.access_log import RedactedQuery, redact_access_log


def _logged(path: str) -> str:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", path, "1.1", 200), None,
    )  # fmt: skip
    RedactedQuery().filter(record)
    return record.getMessage()


def test_query_secrets_are_masked() -> None:
    line = _logged("/v1/runs/r1/stream?after=3&token=tw1.abc.def&x=1")
    assert "tw1.abc.def" not in line
    assert "/v1/runs/r1/stream?after=3&token=***&x=1" in line
    assert "api_key=***" in _logged("/v1/ws?api_key=sk-secret")
    assert _logged("/v1/runs/r1/stream?after=3").endswith('stream?after=3 HTTP/1.1" 200')


def test_it_is_installed_once() -> None:
    logger = logging.getLogger("tokenwire-test-access")
    redact_access_log(logger)
    redact_access_log(logger)
    assert sum(isinstance(f, RedactedQuery) for f in logger.filters) == 1
