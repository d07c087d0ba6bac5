"""Server-sent events of a chat-completions stream, decoded to dicts with orjson.

Sans-IO: :meth:`ChunkDecoder.feed` takes the bytes as they arrive and returns the chunks
they complete, so the async and the sync stream share it. It follows the SSE rules the
``openai`` SDK's decoder follows (CR, LF and CRLF line ends, a CRLF split across reads,
``data:`` lines joined by ``\\n``, comments and ``id``/``retry``/``event`` fields ignored
for chat completions) and ends at ``[DONE]``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["ChunkDecoder"]

_DONE = b"[DONE]"


class ChunkDecoder:
    """One stream's decoder: ``chunks = decoder.feed(data)``; ``decoder.done`` after ``[DONE]``.

    A malformed ``data:`` payload raises ``json.JSONDecodeError``, as the SDK does.
    """

    __slots__ = ("_data", "_pending", "_skip_lf", "done")

    def __init__(self) -> None:
        self._pending = b""
        self._skip_lf = False  # the last read ended in "\r": a leading "\n" ends no line
        self._data: list[bytes] = []
        self.done = False

    def feed(self, data: bytes) -> list[Any]:
        if self.done:  # nothing after [DONE] is a chunk
            return []
        if self._skip_lf and data[:1] == b"\n":
            data = data[1:]
        if not data:
            return []
        buffer = self._pending + data if self._pending else data
        lines = buffer.splitlines()  # bytes: only \r, \n and \r\n end a line
        last = buffer[-1]
        self._skip_lf = last == 13
        if last in (10, 13):
            self._pending = b""
        else:
            self._pending = lines.pop()
        return self._lines(lines)

    def close(self) -> list[Any]:
        """The end of the body: a last line without its line end still counts."""
        if self.done:
            return []
        lines, self._pending = ([self._pending] if self._pending else []), b""
        return self._lines([*lines, b""])

    def _lines(self, lines: list[bytes]) -> list[Any]:
        chunks: list[Any] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    payload = data[0] if len(data) == 1 else b"\n".join(data)
                    data.clear()
                    if payload.startswith(_DONE):
                        self.done = True
                        return chunks
                    try:
                        chunks.append(orjson.loads(payload))
                    except orjson.JSONDecodeError as e:  # the SDK's json.loads raises this
                        raise json.JSONDecodeError(e.msg, e.doc, e.pos) from None
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append(value[1:] if value[:1] == b" " else value)
        return chunks
