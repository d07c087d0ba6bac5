"""When each byte of a mock reply is sent: pacing (TTFT, ITL, jitter) and injected faults.

A playback is a list of :data:`Frame` tuples ``(kind, delay_s, body, tokens)``: wait
``delay_s`` after the previous frame's schedule, send ``body``, count ``tokens``.

Streaming: the role chunk goes out at once (so headers and the first bytes arrive
immediately), then after TTFT the reasoning chunks (if any) and the completion units
(content tokens, or tool-call header and argument pieces) spaced by ITL, then the finish
chunk, the usage chunk (with ``include_usage``) and ``[DONE]`` without delay.
Non-streaming: the whole body after TTFT plus the ITL of every later unit.

Jitter adds ``uniform(-jitter, +jitter)`` to each delay (clamped at 0), from a generator
seeded with the request's digest, so the same request is paced the same way every run.
Faults fire after ``after`` completion units, or after the last one if the reply is shorter.
"""

from __future__ import annotations

import random
from typing import Final

from tokenwire.mock.profile import Fault, MockProfile
from tokenwire.mock.wire import DONE, MALFORMED

__all__ = ["DROP", "SEND", "STALL", "Frame", "completion_playback", "stream_playback"]

SEND: Final = 0
STALL: Final = 1
DROP: Final = 2

Frame = tuple[int, float, bytes, int]


def stream_playback(
    lead: list[bytes],
    reasoning: list[bytes],
    units: list[bytes],
    tail: list[bytes],
    profile: MockProfile,
    fault: Fault | None,
    seed: str,
) -> list[Frame]:
    delays = _delays(profile, len(reasoning) + len(units), seed)
    frames: list[Frame] = [(SEND, 0.0, body, 0) for body in lead]
    frames += [(SEND, delay, body, 0) for delay, body in zip(delays, reasoning, strict=False)]
    unit_delays = delays[len(reasoning) :]
    frames += [(SEND, delay, body, 1) for delay, body in zip(unit_delays, units, strict=True)]
    if fault is not None and fault.kind != "status":
        at = len(lead) + len(reasoning) + min(fault.after, len(units))
        frames[at:at] = _fault_frames(fault)
    frames += [(SEND, 0.0, body, 0) for body in tail]
    frames.append((SEND, 0.0, DONE, 0))
    return frames


def completion_playback(
    body: bytes, units: int, profile: MockProfile, fault: Fault | None, seed: str
) -> tuple[list[Frame], int]:
    """Frames of a non-streaming reply, and the Content-Length to announce."""
    wait = sum(_delays(profile, max(units, 1), seed))
    frames: list[Frame] = []
    if fault is not None and fault.kind == "stall":
        frames.append((STALL, fault.seconds, b"", 0))
    if fault is not None and fault.kind == "drop":
        return [*frames, (SEND, wait, body[: len(body) // 2], 0), (DROP, 0.0, b"", 0)], len(body)
    if fault is not None and fault.kind == "malformed":
        body = b"{not json"
    return [*frames, (SEND, wait, body, units)], len(body)


def _fault_frames(fault: Fault) -> list[Frame]:
    if fault.kind == "drop":
        return [(DROP, 0.0, b"", 0)]
    if fault.kind == "stall":
        return [(STALL, fault.seconds, b"", 0)]
    return [(SEND, 0.0, MALFORMED, 0)]


def _delays(profile: MockProfile, count: int, seed: str) -> list[float]:
    """Seconds before each of ``count`` timed frames: TTFT first, then ITL."""
    if count == 0:
        return []
    base = [profile.ttft_ms] + [profile.itl_ms] * (count - 1)
    if profile.jitter_ms:
        rng = random.Random(seed)
        jitter = profile.jitter_ms
        base = [ms + rng.uniform(-jitter, jitter) for ms in base]
    return [max(ms, 0.0) / 1000 for ms in base]
