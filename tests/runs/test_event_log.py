from __future__ import annotations

import asyncio

import pytest

from tokenwire.broker.base import EventLogClosed, EventLogFull
from tokenwire.broker.memory import MemoryBroker


async def _drain(log_reader: object) -> list[list[int]]:
    batches: list[list[int]] = []
    async for batch in log_reader:  # type: ignore[attr-defined]
        batches.append([e.seq for e in batch])
    return batches


async def test_replay_from_a_cursor_then_follow_live() -> None:
    log = MemoryBroker().create("r")
    for i in range(3):
        log.append("token", {"text": str(i)})
    reader = asyncio.create_task(_drain(log.read(after=1)))
    await asyncio.sleep(0)
    log.append("token", {"text": "3"})
    await asyncio.sleep(0)
    log.append("run.end", {}, terminal=True)
    log.close()
    batches = await reader
    assert [seq for batch in batches for seq in batch] == [2, 3, 4, 5]


async def test_a_slow_reader_gets_queued_events_in_one_batch() -> None:
    log = MemoryBroker().create("r")
    reader = log.read()
    for i in range(5):
        log.append("token", {"text": str(i)})
    first = await anext(reader)
    assert [e.seq for e in first] == [1, 2, 3, 4, 5]
    await reader.aclose()


async def test_many_readers_each_see_every_event_once() -> None:
    log = MemoryBroker().create("r")
    readers = [asyncio.create_task(_drain(log.read())) for _ in range(10)]
    for i in range(50):
        log.append("token", {"text": str(i)})
        if i % 7 == 0:
            await asyncio.sleep(0)
    log.close()
    for batches in await asyncio.gather(*readers):
        assert [seq for batch in batches for seq in batch] == list(range(1, 51))


async def test_a_cancelled_reader_does_not_disturb_the_others() -> None:
    log = MemoryBroker().create("r")
    doomed = asyncio.create_task(_drain(log.read()))
    survivor = asyncio.create_task(_drain(log.read()))
    await asyncio.sleep(0)
    doomed.cancel()
    await asyncio.sleep(0)
    log.append("token", {"text": "x"})
    log.close()
    assert await survivor == [[1]]


async def test_limit_keeps_room_for_terminal_events_and_close_is_final() -> None:
    log = MemoryBroker(max_events_per_run=5).create("r")
    log.append("run.start", {})
    log.append("token", {"text": "a"})
    with pytest.raises(EventLogFull):
        log.append("token", {"text": "b"})
    for kind in ("error", "usage", "run.end"):
        log.append(kind, {}, terminal=True)
    log.close()
    assert log.last_seq == 5
    with pytest.raises(EventLogClosed):
        log.append("token", {"text": "late"}, terminal=True)


async def test_reading_past_the_end_of_a_closed_log_yields_nothing() -> None:
    log = MemoryBroker().create("r")
    log.append("run.end", {}, terminal=True)
    log.close()
    assert await _drain(log.read(after=1)) == []
    assert await _drain(log.read(after=99)) == []


async def test_a_closed_log_reads_the_same_and_leaves_the_collector_few_objects() -> None:
    import gc

    from tokenwire.events import Event, EventType

    log = MemoryBroker().create("r")
    log.append(EventType.RUN_START, {"run_id": "r", "route": "chat"})
    for i in range(500):
        event = log.append(EventType.TOKEN, {"text": f"w{i} "})
        if i < 3:
            event.wire = b"cached"  # an encoding made while live is kept
    log.append(EventType.RUN_END, {"status": "completed", "usage": {"output_tokens": 500}})
    live = [Event(e.seq, e.type, e.data) for e in log.since(0)]
    log.close()
    settled = log.since(0)
    assert settled == live and len(settled) == log.last_seq == 502
    assert [e.wire for e in settled[1:5]] == [b"cached"] * 3 + [None]
    assert settled[-1].type == EventType.RUN_END and settled[-1].data["usage"] == {
        "output_tokens": 500
    }
    assert [e.seq for e in log.since(500)] == [501, 502]
    assert [[e.seq for e in b] async for b in log.read(after=499)] == [[500, 501, 502]]
    gc.collect()  # the collector drops tuples of plain values from its lists at a pass
    rows = log._events._rows  # type: ignore[attr-defined]
    assert [row.type for row in rows if gc.is_tracked(row)] == [EventType.RUN_START, "run.end"]
    assert settled[0] is rows[0]  # the few other events are kept as they were
