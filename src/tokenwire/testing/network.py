"""Loopback ports for servers a test starts in a subprocess.

>>> port = free_port()
>>> subprocess.Popen(["tokenwire", "serve", "--port", str(port)])
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
