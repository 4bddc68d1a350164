"""HA wire codecs: transfer frames and offset reports in any chunking."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.errors import RemoteProtocolError
from orbitmq.ha.wire import (
    OffsetReportDecoder,
    TransferFrame,
    TransferFrameDecoder,
    encode_offset_report,
    encode_transfer_header,
    transfer_start_offset,
)


def frame_bytes(offset: int, body: bytes) -> bytes:
    return encode_transfer_header(offset, len(body)) + body


FRAMES = [TransferFrame(4096, b"abc"), TransferFrame(4099, b""), TransferFrame(4099, b"x" * 300)]
STREAM = b"".join(frame_bytes(f.offset, f.body) for f in FRAMES)
ENDS = list(itertools.accumulate(12 + len(f.body) for f in FRAMES))


def drain(decoder: TransferFrameDecoder) -> list[TransferFrame]:
    frames = []
    while (frame := decoder.next_frame()) is not None:
        frames.append(frame)
    return frames


def test_transfer_header_layout() -> None:
    # physicalOffset i64 | bodySize i32, big-endian (HAConnection.WriteSocketService)
    assert encode_transfer_header(0x0102030405060708, 0x0A0B0C0D).hex() == (
        "0102030405060708" + "0a0b0c0d"
    )


def test_whole_stream_decodes() -> None:
    decoder = TransferFrameDecoder()
    decoder.feed(STREAM)
    assert drain(decoder) == FRAMES


def test_one_byte_at_a_time_yields_nothing_until_complete() -> None:
    decoder = TransferFrameDecoder()
    frames: list[TransferFrame] = []
    for i in range(len(STREAM)):
        decoder.feed(STREAM[i : i + 1])
        frames.extend(drain(decoder))
        assert frames == [f for f, end in zip(FRAMES, ENDS, strict=True) if end <= i + 1]
    assert frames == FRAMES


def test_trailing_partial_frame_is_kept() -> None:
    decoder = TransferFrameDecoder()
    decoder.feed(STREAM + frame_bytes(5000, b"tail")[:14])
    assert drain(decoder) == FRAMES
    decoder.feed(b"il")
    assert drain(decoder) == [TransferFrame(5000, b"tail")]


@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1))
def test_random_chunkings(cuts: list[int]) -> None:
    decoder = TransferFrameDecoder()
    frames: list[TransferFrame] = []
    pos = 0
    for cut in cuts:
        decoder.feed(STREAM[pos : pos + cut])
        pos += cut
        frames.extend(drain(decoder))
    decoder.feed(STREAM[pos:])
    frames.extend(drain(decoder))
    assert frames == FRAMES


@pytest.mark.parametrize(
    "header",
    [encode_transfer_header(-1, 0), encode_transfer_header(0, -5), encode_transfer_header(0, 65)],
)
def test_bad_header_fails_and_stays_failed(header: bytes) -> None:
    decoder = TransferFrameDecoder(max_body=64)
    decoder.feed(header)
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()
    with pytest.raises(RemoteProtocolError):
        decoder.next_frame()


def test_offset_reports_use_the_newest_complete_value() -> None:
    decoder = OffsetReportDecoder()
    assert decoder.feed(encode_offset_report(100)[:5]) is None
    assert decoder.feed(encode_offset_report(100)[5:]) == 100
    stream = encode_offset_report(200) + encode_offset_report(300) + encode_offset_report(400)
    assert decoder.feed(stream[:20]) == 300
    assert decoder.feed(stream[20:]) == 400
    with pytest.raises(RemoteProtocolError):
        decoder.feed(encode_offset_report(-1))


def test_empty_slave_starts_at_the_masters_last_segment() -> None:
    assert transfer_start_offset(0, 10_000, 4096) == 8192
    assert transfer_start_offset(0, 8192, 4096) == 8192
    assert transfer_start_offset(0, 0, 4096) == 0
    assert transfer_start_offset(5000, 10_000, 4096) == 5000
