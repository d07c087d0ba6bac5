"""A ``redis-server`` of a test's own, to stop and start again (the shared Redis on 6379
serves every other test and must never restart)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

__all__ = ["PrivateRedis", "redis_server_binary"]


def redis_server_binary() -> str:
    """The ``redis-server`` executable; without it the test skips, or fails on CI."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is required on CI (the Redis restart tests run it)")
        pytest.skip("redis-server is not installed")
    return found


class PrivateRedis:
    """A throwaway Redis on a free loopback port, nothing persisted: a restart loses
    every key, as a Redis without persistence (or a failover to an empty one) does."""

    def __init__(self, binary: str, directory: Path) -> None:
        self._binary = binary
        self._directory = directory
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self._binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self._directory)]
        log = (self._directory / "redis.log").open("ab")
        self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert self._proc.poll() is None, (self._directory / "redis.log").read_text()
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        """Stop at once, losing everything (``kill -9``, no goodbye to clients)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)
