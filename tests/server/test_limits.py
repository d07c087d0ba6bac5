"""Request size and time limits, over a real loopback server: bodies (every front end),
headers, header time (slowloris), keep-alive, WebSocket messages; clients that leave
mid-body."""

from __future__ import annotations

import logging
import re
import selectors
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from langchain_core.runnables import RunnableLambda
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tokenwire.config import Settings
from tokenwire.demo.routes import demo_model
from tokenwire.routes import Route
from tokenwire.server.app import create_app
from tokenwire.server.background import BackgroundServer

Serve = Callable[..., httpx.Client]

#: Per front end: a start request whose text field is ``VALUE``.
FRONT_ENDS = {
    "native": ("/v1/routes/echo/runs", b'{"input": "VALUE"}', "application/json"),
    "native stream": ("/v1/routes/echo/runs", b'{"input": "VALUE"}', "text/event-stream"),
    "openai": (
        "/v1/chat/completions",
        b'{"model": "chat", "messages": [{"role": "user", "content": "VALUE"}]}',
        "application/json",
    ),
    "langserve": ("/langserve/echo/invoke", b'{"input": "VALUE"}', "application/json"),
    "ai sdk": (
        "/v1/routes/chat/ui-chat",
        b'{"id": "c", "messages": [{"role": "user", "parts": '
        b'[{"type": "text", "text": "VALUE"}]}]}',
        "application/json",
    ),
}


def _body(front_end: str, size: int) -> bytes:
    template = FRONT_ENDS[front_end][1]
    return template.replace(b"VALUE", b"x" * (size - len(template) + len(b"VALUE")))


@pytest.fixture(scope="module")
def gateway(
    mock_server: BackgroundServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackgroundServer]:
    """A gateway with the default limits (1 MiB bodies)."""
    routes = [
        Route("chat", demo_model(f"{mock_server.url}/v1")),
        Route("echo", RunnableLambda(lambda value: str(value)[:10])),
    ]
    settings = Settings(auth="none", data_dir=str(tmp_path_factory.mktemp("data")))
    with BackgroundServer(create_app(routes, settings), settings=settings) as server:
        yield server


@pytest.fixture
def client(gateway: BackgroundServer, mock_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        yield client


def _nothing_ran(client: httpx.Client, mock_url: str) -> None:
    assert client.get("/v1/runs", params={"status": "all"}).json()["runs"] == []
    assert httpx.get(f"{mock_url}/mock/requests").json() == []


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:200]
    assert response.headers["content-type"] == "application/problem+json"
    assert "1048576 bytes" in response.json()["detail"]


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_2_mb_body_is_413_and_starts_nothing(
    client: httpx.Client, mock_url: str, front_end: str
) -> None:
    path, _, accept = FRONT_ENDS[front_end]
    body = _body(front_end, 2 * 1024 * 1024)
    headers = {"Content-Type": "application/json", "Accept": accept}
    _assert_too_large(client.post(path, content=body, headers=headers))
    _nothing_ran(client, mock_url)


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_chunked_body_is_counted_as_it_arrives(
    client: httpx.Client, mock_url: str, front_end: str
) -> None:
    path, _, accept = FRONT_ENDS[front_end]
    body = _body(front_end, 1024 * 1024 + 1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {"Content-Type": "application/json", "Accept": accept}
    _assert_too_large(client.post(path, content=chunks(), headers=headers))
    _nothing_ran(client, mock_url)


def test_a_body_at_the_limit_is_served(serve: Serve) -> None:
    client = serve([Route("echo", RunnableLambda(lambda value: len(value)))])
    body = _body("langserve", 1024 * 1024)
    assert len(body) == 1024 * 1024
    response = client.post(
        "/langserve/echo/invoke", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text[:200]


def test_a_websocket_message_over_the_limit_closes_the_socket(gateway: BackgroundServer) -> None:
    url = gateway.url.replace("http://", "ws://") + "/v1/ws"
    with connect(url, max_size=None) as socket_:
        socket_.send('{"type": "ping", "id": 1}')
        assert '"pong"' in str(socket_.recv(timeout=10))
        socket_.send('{"type": "ping", "id": "' + "x" * (1024 * 1024) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            socket_.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def _response_then_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (10 s at most)."""
    sock.settimeout(10)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("split", [False, True], ids=["one piece", "trickled"])
def test_a_100_kb_header_is_431_and_the_connection_closes(
    gateway: BackgroundServer, split: bool
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n"
    with socket.create_connection((gateway.host, gateway.port)) as sock:
        pieces = [request[i : i + 8192] for i in range(0, len(request), 8192)]
        # In pieces, headers are still incomplete when they pass the limit.
        for piece in pieces if split else [request]:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break  # refused mid-request: the answer is already there to read
        answer = _response_then_close(sock)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_headers_under_the_limit_are_served(gateway: BackgroundServer) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 12_000 + b"\r\n"
    request += b"Connection: close\r\n\r\n"
    with socket.create_connection((gateway.host, gateway.port)) as sock:
        sock.sendall(request)
        assert _response_then_close(sock).startswith(b"HTTP/1.1 200 ")


@pytest.fixture
def impatient(serve: Serve) -> httpx.Client:
    """A gateway that waits at most 1 s for a request's headers and 1 s on an idle
    kept-alive connection."""
    echo = RunnableLambda(lambda value: value)
    return serve([Route("echo", echo)], header_timeout_seconds=1.0, keep_alive_seconds=1)


def _address(client: httpx.Client) -> tuple[str, int]:
    url = httpx.URL(str(client.base_url))
    assert url.port is not None
    return url.host, url.port


def _readable(sock: socket.socket, timeout: float) -> bool:
    """``select`` refuses descriptors past 1024, which a long test run reaches: epoll."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout))


def _trickle(sock: socket.socket, data: bytes) -> bytes:
    """Send ``data`` a byte at a time, pausing between bytes until the server answers or
    closes; returns what it sent back. Fails if all of ``data`` went out first."""
    for byte in data:
        try:
            sock.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            break
        if _readable(sock, 0.25):
            return _response_then_close(sock)
    raise AssertionError("the server held a connection trickling its headers")


def test_a_slowloris_client_is_disconnected_after_the_header_timeout(
    impatient: httpx.Client,
) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: " + b"a" * 200
    with socket.create_connection(_address(impatient)) as sock:
        answer = _trickle(sock, request)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_kept_alive_connection_is_held_to_the_same_timeout(impatient: httpx.Client) -> None:
    with socket.create_connection(_address(impatient)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        answer = _trickle(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_an_idle_kept_alive_connection_is_closed(impatient: httpx.Client) -> None:
    with socket.create_connection(_address(impatient)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _response_then_close(sock)  # returns once the keep-alive timeout closed it
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_request_that_completes_in_time_is_not_cut_off(impatient: httpx.Client) -> None:
    # A request split in two pieces, well within the header timeout, is served.
    with socket.create_connection(_address(impatient)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        assert _response_then_close(sock).startswith(b"HTTP/1.1 200 ")


def _disconnects(client: httpx.Client) -> float:
    metrics = client.get("/metrics").text
    match = re.search(r"^tokenwire_client_disconnects_total ([0-9.e+]+)$", metrics, re.M)
    assert match is not None, "the counter is not exported"
    return float(match.group(1))


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_client_leaving_mid_body_is_counted_not_logged_as_an_error(
    client: httpx.Client,
    gateway: BackgroundServer,
    mock_url: str,
    front_end: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path, template, accept = FRONT_ENDS[front_end]
    before = _disconnects(client)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Accept: {accept}\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    with (
        caplog.at_level(logging.DEBUG),
        socket.create_connection((gateway.host, gateway.port)) as sock,
    ):
        sock.sendall(head + template[:10])
        sock.shutdown(socket.SHUT_WR)  # the client is gone, 10 bytes into its body
        _response_then_close(sock)  # the server closes its side too
        _wait_until(lambda: _disconnects(client) == before + 1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("left after 10 bytes" in r.getMessage() for r in caplog.records)
    _nothing_ran(client, mock_url)


def _wait_until(condition: Callable[[], Any]) -> None:
    """Poll ``condition`` (10 s at most)."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_an_endless_chunked_body_after_its_413_is_cut_off(serve: Serve) -> None:
    # The 413 comes once the body passes the limit; the rest of the body is dropped, but
    # only for header_timeout_seconds: a client that never stops cannot hold the connection.
    client = serve(
        [Route("echo", RunnableLambda(lambda value: value))],
        max_request_bytes=1000,
        header_timeout_seconds=1.0,
    )
    chunk = b"%x\r\n%s\r\n" % (500, b"x" * 500)
    with socket.create_connection(_address(client)) as sock:
        sock.sendall(
            b"POST /langserve/echo/invoke HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        answer = b""
        for _ in range(200):  # at most 200 pauses of 0.1 s, 20 s: the server must cut first
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            readable = _readable(sock, 0.1)
            if readable:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        else:
            raise AssertionError("the server kept reading an endless body")
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_a_websocket_handshake_with_oversized_headers_is_431(gateway: BackgroundServer) -> None:
    handshake = (
        b"GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    )
    with socket.create_connection((gateway.host, gateway.port)) as sock:
        sock.sendall(handshake + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        assert _response_then_close(sock).startswith(b"HTTP/1.1 431 ")


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKENWIRE_MAX_REQUEST_BYTES", "2048")
    monkeypatch.setenv("TOKENWIRE_HEADER_TIMEOUT_SECONDS", "2.5")
    settings = Settings()
    assert (settings.max_request_bytes, settings.header_timeout_seconds) == (2048, 2.5)
    monkeypatch.delenv("TOKENWIRE_MAX_REQUEST_BYTES")
    monkeypatch.delenv("TOKENWIRE_HEADER_TIMEOUT_SECONDS")
    assert (Settings().max_request_bytes, Settings().max_header_bytes) == (1_048_576, 16_384)
    refused: list[dict[str, Any]] = [
        {"max_request_bytes": 0},
        {"header_timeout_seconds": 0},
        {"keep_alive_seconds": -1},
    ]
    for bad in refused:
        with pytest.raises(ValueError, match="must be >"):
            Settings(**bad)
