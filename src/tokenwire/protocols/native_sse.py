"""The native protocol on SSE: ``id: <seq>`` / ``event: <type>`` / ``data: <json>``.

Each event is encoded once (cached on the event), however many subscribers replay it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import orjson

from tokenwire.events import Event

__all__ = ["HEARTBEAT", "encode_batch", "encode_event", "native_stream", "retry_hint"]

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


async def native_stream(batches: AsyncIterator[Sequence[Event]]) -> AsyncIterator[bytes]:
    """Encode a log reader's batches: one write per batch, however many events it holds."""
    async for batch in batches:
        yield encode_batch(batch)
