"""Latency profiles and client disconnects, over loopback. Bounds are loose on purpose."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import pytest

from tokenwire.mock import MockProfile
from tokenwire.mock.playback import stream_playback
from tokenwire.server.background import BackgroundServer

MESSAGES = [{"role": "user", "content": "one two three four five six seven eight"}]


def open_stream(client: httpx.Client, model: str, request_id: str) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "stream": True}
    request = client.build_request(
        "POST", "/v1/chat/completions", json=body, headers={"x-request-id": request_id}
    )
    return client.send(request, stream=True)


def test_ttft_and_itl_are_roughly_honoured(mock_url: str) -> None:
    with httpx.Client(base_url=mock_url, timeout=10) as client:
        started = time.monotonic()
        response = open_stream(client, "mock@ttft=300,itl=50", f"pace-{uuid.uuid4()}")
        arrivals: list[tuple[float, str]] = [
            (time.monotonic() - started, line) for line in response.iter_lines() if line
        ]
        response.close()
    role_at = arrivals[0][0]
    content = [at for at, line in arrivals if '"content":"' in line and '"content":""' not in line]
    assert len(content) == 10
    assert content[0] >= 0.28  # TTFT
    assert role_at < content[0] - 0.1  # the role chunk is not held back by TTFT
    assert content[-1] - content[0] >= 9 * 0.05 * 0.9  # ITL, paced on an absolute schedule


def test_jitter_is_deterministic_per_request() -> None:
    profile = MockProfile(ttft_ms=100, itl_ms=20, jitter_ms=10)
    units = [b"x"] * 20

    def delays(seed: str) -> list[float]:
        return [f[1] for f in stream_playback([b"r"], [], units, [], profile, None, seed)]

    assert delays("a") == delays("a")
    assert delays("a") != delays("b")
    assert all(0.01 <= d <= 0.03 for d in delays("a")[2:-1])


def test_client_disconnect_is_recorded_before_the_next_token_is_due(
    mock_url: str, outcome: Any
) -> None:
    # The second token is due a minute later: a record within the poll's few seconds shows
    # the mock noticed the disconnect while sleeping, not when its next write failed.
    request_id = f"leave-{uuid.uuid4()}"
    with httpx.Client(base_url=mock_url, timeout=10) as client:
        response = open_stream(client, "mock@itl=60000", request_id)
        lines = response.iter_lines()
        while '"content":"You "' not in next(lines):
            pass
        assert httpx.get(f"{mock_url}/mock/stats").json()["open_streams"] >= 1
        response.close()  # the server is sleeping before the second token
    record = outcome(request_id)
    assert record["outcome"] == "client_disconnected"
    assert record["tokens_sent"] == 1


def test_leaving_during_a_stall_is_recorded_as_stalled(mock_url: str, outcome: Any) -> None:
    request_id = f"stall-{uuid.uuid4()}"
    with httpx.Client(base_url=mock_url, timeout=10) as client:
        response = open_stream(client, "mock@fault=stall:2:30", request_id)
        lines = response.iter_lines()
        while '"content":"said: "' not in next(lines):
            pass
        response.close()
    # The stall lasts 30 s: a record within the poll shows the disconnect ended it.
    record = outcome(request_id)
    assert record["outcome"] == "stalled" and record["tokens_sent"] == 2


def test_leaving_a_slow_non_streaming_request(mock_url: str, outcome: Any) -> None:
    request_id = f"slow-{uuid.uuid4()}"
    body = {"model": "mock@ttft=30000", "messages": MESSAGES}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{mock_url}/v1/chat/completions",
            json=body,
            headers={"x-request-id": request_id},
            timeout=0.3,
        )
    record = outcome(request_id, timeout=2)
    assert record["outcome"] == "client_disconnected" and record["tokens_sent"] == 0


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_only_deliberate_drops_are_kept_out_of_the_log(mock_url: str) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})

    body = {"model": "mock@fault=drop:1", "messages": MESSAGES, "stream": True}
    with BackgroundServer(broken) as server:
        logger = logging.getLogger("uvicorn.error")
        collect = Collect()
        logger.addHandler(collect)
        try:
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.post(f"{mock_url}/v1/chat/completions", json=body)
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(server.url)
            time.sleep(0.05)
        finally:
            logger.removeHandler(collect)
    dropped = [m for m in collect.messages if "without completing response" in m]
    assert len(dropped) == 1  # the broken app's, not the mock's
