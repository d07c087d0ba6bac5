"""The native protocol on SSE: ``id: <seq>`` / ``event: <type>`` / ``data: <json>``.

Each event is encoded once (cached on the event), however many subscribers replay it.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from tokenwire.events import Event

__all__ = [
    "HEARTBEAT",
    "NativeEncoder",
    "encode_batch",
    "encode_event",
    "retry_hint",
]

HEARTBEAT = b": ping\n\n"


def retry_hint(retry_ms: int) -> bytes:
    return b"retry: %d\n\n" % retry_ms


def encode_event(event: Event) -> bytes:
    wire = event.wire
    if wire is None:
        wire = b"id: %d\nevent: %s\ndata: %s\n\n" % (
            event.seq,
            event.type.encode(),
            orjson.dumps(event.data),
        )
        event.wire = wire
    return wire


def encode_batch(events: Sequence[Event]) -> bytes:
    if len(events) == 1:
        return encode_event(events[0])
    return b"".join([encode_event(e) for e in events])


class NativeEncoder:
    """The native protocol as a ``WireEncoder``: every event as is; the log's end is the
    stream's end."""

    __slots__ = ()
    closed = False

    def encode(self, events: Sequence[Event]) -> bytes:
        return encode_batch(events)
