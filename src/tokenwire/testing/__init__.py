"""tokenwire's test kit: what the project's own tests use, for testing apps built on it.

- :class:`BackgroundServer`: any ASGI app under uvicorn on a loopback port, in a thread.
- :func:`serve`: a live gateway for a ``with`` block, as an httpx client.
- :func:`test_settings`: ``Settings`` for tests (no auth, a temporary ``data_dir``).
- :class:`ScriptedChatModel` with :func:`text_turn`, :func:`tool_call_turn` and
  :func:`failing_turn`: a chat model that streams exactly what the test wrote.
- An SSE reader (:func:`iter_sse`, :func:`parse_events`, :func:`collect`, ...) and
  bounded waits (:func:`poll_until`, :func:`wait_for_status`, :func:`mock_record`).

>>> from tokenwire.testing import ScriptedChatModel, collect, serve, text_of, text_turn
>>> model = ScriptedChatModel(turns=[text_turn("Hello", " world")])
>>> with serve([Route("chat", model)]) as client:
...     assert text_of(collect(client, "chat", {"input": "hi"})) == "Hello world"

Nothing in the runtime imports this package.
"""

from __future__ import annotations

from tokenwire.server.background import BackgroundServer
from tokenwire.testing.chat_models import (
    ScriptedChatModel,
    Turn,
    failing_turn,
    text_turn,
    tool_call_turn,
)
from tokenwire.testing.live import serve
from tokenwire.testing.network import free_port
from tokenwire.testing.polling import mock_record, poll_until, wait_for_status, wait_ready
from tokenwire.testing.settings import test_settings
from tokenwire.testing.sse import (
    SSE,
    collect,
    iter_sse,
    parse_events,
    parse_lines,
    rejoin,
    start_stream,
    text_of,
)

__all__ = [
    "SSE",
    "BackgroundServer",
    "ScriptedChatModel",
    "Turn",
    "collect",
    "failing_turn",
    "free_port",
    "iter_sse",
    "mock_record",
    "parse_events",
    "parse_lines",
    "poll_until",
    "rejoin",
    "serve",
    "start_stream",
    "test_settings",
    "text_of",
    "text_turn",
    "tool_call_turn",
    "wait_for_status",
    "wait_ready",
]
