"""Remoting frame codec, sans-IO (NettyDecoder.java / RemotingCommand.encode).

  totalLength i32 (excludes itself) | headerWord i32 = serializeType << 24 | headerLength |
  header | body

Feed any chunking with `feed()`, then call `next_frame()` until it returns None, or take
every whole frame at once as bytes with `whole_frames()` (a batching reader walks them
itself with FRAME_PREFIX). After an error the decoder is dead: the connection must be
closed.
"""

from __future__ import annotations

import struct

from orbitmq.errors import FrameTooLargeError, RemoteProtocolError
from orbitmq.protocol.codes import SerializeType
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.header_json import decode_json_header, encode_json_header
from orbitmq.protocol.header_rocketmq import decode_rocketmq_header, encode_rocketmq_header

DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024
FRAME_PREFIX = struct.Struct(">ii")  # totalLength, headerWord
_PREFIX = FRAME_PREFIX
_COMPACT_THRESHOLD = 64 * 1024


def encode_frame(command: RemotingCommand) -> bytes:
    head, body = encode_frame_parts(command)
    return head + body if body else head


def encode_frame_parts(command: RemotingCommand) -> tuple[bytes, bytes]:
    """The frame as (lengths + header, body), so that a large body is not copied to
    join them (a transport's writelines sends both with one writev)."""
    if command.serialize_type == SerializeType.ROCKETMQ:
        header = encode_rocketmq_header(command)
    else:
        header = encode_json_header(command)
    total = 4 + len(header) + len(command.body)
    word = (int(command.serialize_type) << 24) | len(header)
    return _PREFIX.pack(total, word) + header, command.body


def decode_header(serialize_type: int, header: bytes | memoryview, body: bytes) -> RemotingCommand:
    if serialize_type == SerializeType.JSON:
        return decode_json_header(header, body)
    if serialize_type == SerializeType.ROCKETMQ:
        return decode_rocketmq_header(header, body)
    raise RemoteProtocolError(f"unknown serialize type {serialize_type}")


class FrameDecoder:
    """Turns a byte stream into RemotingCommands."""

    __slots__ = ("_buffer", "_dead", "_max_frame_size", "_pos")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self._max_frame_size = max_frame_size
        self._dead = False

    def feed(self, data: bytes) -> None:
        if self._dead:
            raise RemoteProtocolError("decoder already failed; close the connection")
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._pos

    def next_frame(self) -> RemotingCommand | None:
        """Return the next whole command, or None when more bytes are needed."""
        if self._dead:
            raise RemoteProtocolError("decoder already failed; close the connection")
        try:
            return self._next_frame()
        except RemoteProtocolError:
            self._dead = True
            raise

    def whole_frames(self) -> bytes:
        """Every whole frame buffered, back to back (b"" if none); a partial frame stays.

        Each frame's lengths are checked here, so a reader of the result can trust them.
        """
        if self._dead:
            raise RemoteProtocolError("decoder already failed; close the connection")
        buf = self._buffer
        start = pos = self._pos
        end = len(buf)
        unpack_from = _PREFIX.unpack_from
        max_size = self._max_frame_size
        try:
            while end - pos >= 8:
                total, word = unpack_from(buf, pos)
                _check_lengths(total, word & 0xFFFFFF, max_size)
                if end - pos < 4 + total:
                    break
                pos += 4 + total
        except RemoteProtocolError:
            self._dead = True
            raise
        if pos == start:
            return b""
        if pos == end:
            frames = bytes(buf) if start == 0 else bytes(buf[start:])
            buf.clear()
            self._pos = 0
        else:
            frames = bytes(buf[start:pos])
            del buf[:pos]
            self._pos = 0
        return frames

    def _next_frame(self) -> RemotingCommand | None:
        buf = self._buffer
        pos = self._pos
        available = len(buf) - pos
        if available < 4:
            return None
        (total,) = struct.unpack_from(">i", buf, pos)
        if total > self._max_frame_size:
            raise FrameTooLargeError(total, self._max_frame_size)
        if total < 4:
            raise RemoteProtocolError(f"frame length {total} is too small")
        if available < 4 + total:
            return None
        (word,) = struct.unpack_from(">i", buf, pos + 4)
        serialize_type = (word >> 24) & 0xFF
        header_len = word & 0xFFFFFF
        _check_lengths(total, header_len, self._max_frame_size)
        header_start = pos + 8
        body_start = header_start + header_len
        end = pos + 4 + total
        header = bytes(buf[header_start:body_start])
        body = bytes(buf[body_start:end])
        self._pos = end
        if self._pos == len(buf):
            buf.clear()
            self._pos = 0
        elif self._pos > _COMPACT_THRESHOLD:
            del buf[: self._pos]
            self._pos = 0
        return decode_header(serialize_type, header, body)


def _check_lengths(total: int, header_len: int, max_frame_size: int) -> None:
    if total > max_frame_size:
        raise FrameTooLargeError(total, max_frame_size)
    if total < 4:
        raise RemoteProtocolError(f"frame length {total} is too small")
    if header_len > total - 4:
        raise RemoteProtocolError(f"header length {header_len} exceeds frame length {total}")
