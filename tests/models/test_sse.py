"""``ChunkDecoder``: SSE framing as the ``openai`` SDK reads it, whatever the read sizes."""

from __future__ import annotations

import json

import pytest

from tokenwire.models import ChunkDecoder

BODY = (
    b'data: {"n":1}\n\n'
    b": a comment\n"
    b'event: message\r\nid: 7\r\ndata: {"n":\r\ndata: 2}\r\n\r\n'
    b'data:{"n":3}\r\r'
    b"data: [DONE]\n\n"
    b'data: {"n":4}\n\n'
)


def decode(pieces: list[bytes]) -> tuple[list[object], bool]:
    decoder = ChunkDecoder()
    chunks = [chunk for piece in pieces for chunk in decoder.feed(piece)]
    if not decoder.done:
        chunks += decoder.close()
    return chunks, decoder.done


def test_a_whole_body_gives_every_chunk_up_to_done() -> None:
    assert decode([BODY]) == ([{"n": 1}, {"n": 2}, {"n": 3}], True)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16])
def test_any_split_of_the_bytes_gives_the_same_chunks(size: int) -> None:
    pieces = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert decode(pieces) == ([{"n": 1}, {"n": 2}, {"n": 3}], True)


def test_a_crlf_split_across_reads_ends_one_line() -> None:
    # "\r" | "\n" is one line end: the two data lines stay one event
    pieces = [b'data: {"a":\r', b"\ndata: 1}\r", b"\n\r\n"]
    assert decode(pieces) == ([{"a": 1}], False)


def test_a_body_ending_without_done_or_a_blank_line_still_gives_its_last_chunk() -> None:
    assert decode([b'data: {"n":1}\n\ndata: {"n":2}']) == ([{"n": 1}, {"n": 2}], False)


def test_malformed_json_raises_what_the_sdk_raises() -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        ChunkDecoder().feed(b"data: {not json\n\n")
    assert type(caught.value) is json.JSONDecodeError
