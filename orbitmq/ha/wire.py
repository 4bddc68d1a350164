"""The HA wire format (HAConnection.java / HAService.HAClient): plain TCP on
haListenPort, no remoting framing, big-endian.

  slave -> master, offset report:  maxOffset i64          (the next byte the slave needs)
  master -> slave, transfer frame: physicalOffset i64 | bodySize i32 | body
                                   (raw commit-log bytes [offset, offset + size);
                                    size 0 is a heartbeat)

Bodies are slices of the commit log, not aligned to records, never crossing a segment.
The first report on a connection is the slave's request offset; every report is also
its ack offset.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from orbitmq.errors import RemoteProtocolError

OFFSET_REPORT = struct.Struct(">q")
TRANSFER_HEADER = struct.Struct(">qi")
TRANSFER_BATCH_SIZE = 32 * 1024  # haTransferBatchSize
# A slave refuses bodies beyond this (RocketMQ's slave read buffer is 4 MiB).
MAX_TRANSFER_BODY = 4 * 1024 * 1024


def encode_offset_report(offset: int) -> bytes:
    return OFFSET_REPORT.pack(offset)


def encode_transfer_header(offset: int, size: int) -> bytes:
    return TRANSFER_HEADER.pack(offset, size)


def transfer_start_offset(request_offset: int, master_max_offset: int, file_size: int) -> int:
    """Where the master starts pushing: an empty slave (0) gets the start of the
    master's last segment, not its whole history; any other slave what it asked for."""
    if request_offset == 0:
        return master_max_offset - master_max_offset % file_size
    return request_offset


class OffsetReportDecoder:
    """Master side: offset reports in any chunking; only the newest value matters."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> int | None:
        """The last complete report in the bytes so far, or None if none completed."""
        buf = self._pending + data if self._pending else data
        whole = len(buf) - len(buf) % OFFSET_REPORT.size
        self._pending = buf[whole:]
        if whole == 0:
            return None
        (offset,) = OFFSET_REPORT.unpack_from(buf, whole - OFFSET_REPORT.size)
        if offset < 0:
            raise RemoteProtocolError(f"offset report {offset} is negative")
        return int(offset)


@dataclass(frozen=True, slots=True)
class TransferFrame:
    offset: int
    body: bytes  # empty for a heartbeat


class TransferFrameDecoder:
    """Slave side: transfer frames in any chunking (h11-style feed / next_frame).

    Raises RemoteProtocolError (and stays failed) on a negative offset or size, or a
    body larger than `max_body`.
    """

    __slots__ = ("_buf", "_failed", "_max_body", "_pos")

    def __init__(self, max_body: int = MAX_TRANSFER_BODY) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max_body = max_body
        self._failed = False

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[: self._pos]  # compact once per feed, not once per frame
            self._pos = 0
        self._buf += data

    def next_frame(self) -> TransferFrame | None:
        if self._failed:
            raise RemoteProtocolError("the transfer stream already failed")
        buf, pos = self._buf, self._pos
        if len(buf) - pos < TRANSFER_HEADER.size:
            return None
        offset, size = TRANSFER_HEADER.unpack_from(buf, pos)
        if offset < 0 or size < 0 or size > self._max_body:
            self._failed = True
            raise RemoteProtocolError(
                f"bad transfer header: offset {offset}, size {size} (limit {self._max_body})"
            )
        end = pos + TRANSFER_HEADER.size + size
        if len(buf) < end:
            return None
        self._pos = end
        return TransferFrame(offset, bytes(buf[pos + TRANSFER_HEADER.size : end]))
