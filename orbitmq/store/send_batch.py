"""Many single-message sends appended at once: the store half of the broker's send lane.

One pass lays every record of a batch out at its final offsets and collects its bytes;
each segment's share is written with one copy. The records' consume-queue units and
index entries are then written straight away from what the pass already knows (when
reput has caught up), so nothing is parsed back or built twice. Plain functions over
tuples and bytes, so that the module compiles well with Cython (setup.py) and runs the
same without it.

A SendEntry holds what the record needs, in the order the lane reads it from a request:
  topic, topic field (length byte + UTF-8), queue id, flag, sys flag, born timestamp,
  born host (IPv4 + port, 8 bytes), reconsume times, body, properties (UTF-8),
  tags code, UNIQ_KEY, KEYS
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass

from orbitmq.protocol.message import MESSAGE_MAGIC_CODE
from orbitmq.store.errors import DiskFullError
from orbitmq.store.layout import END_FILE_MIN_BLANK_LENGTH, DispatchRequest, encode_blank

SendEntry = tuple[
    str, bytes, int, int, int, int, bytes, int, bytes, bytes, int, str | None, str | None
]

# totalSize .. bodyLength of an IPv4 record; born host, then store timestamp + store host.
_FIXED_V4 = struct.Struct(">iiiiiqqiq8s16siqi")
_PROPS_LEN = struct.Struct(">h")
# Record size without body, topic and properties (an IPv4 record; see record_size).
RECORD_OVERHEAD = 91


@dataclass(slots=True)
class AppendedSends:
    """Where the first `count` entries of a batch went (the rest were not written)."""

    count: int
    start: int  # physical offset of the first record
    end: int  # just past the last record written
    store_timestamp: int
    physical_offsets: list[int]
    queue_offsets: list[int]
    sizes: list[int]
    refusal: str | None = None  # why the rest were not written (disk full)


def append_sends(
    commit_log: object, entries: list[SendEntry], store_host: bytes
) -> AppendedSends:
    """Lay out, encode and write `entries` at the end of `commit_log` (a CommitLog).

    Every record must fit in one segment with the end-of-file reserve (the lane checks
    sizes). A record that does not fit in the current segment closes it with the
    end-of-file marker and starts the next one, as CommitLog.append does.
    """
    log = commit_log  # typed loosely: CommitLog imports this module
    now = time.time_ns() // 1_000_000
    if now < log.last_store_timestamp:  # type: ignore[attr-defined]
        now = log.last_store_timestamp  # type: ignore[attr-defined]
    stamp_host = now.to_bytes(8, "big") + store_host
    table = log.topic_queue_table  # type: ignore[attr-defined]
    file_size = log.file_size  # type: ignore[attr-defined]
    mapped = log.queue.file_for_append()  # type: ignore[attr-defined]
    base = mapped.file_from_offset
    pos = mapped.wrote_position
    start = base + pos
    pack = _FIXED_V4.pack
    crc32 = zlib.crc32
    parts: list[bytes] = []
    physical_offsets: list[int] = []
    queue_offsets: list[int] = []
    sizes: list[int] = []
    written = 0  # entries whose bytes are in the log
    refusal = None
    for entry in entries:
        topic, topic_field, queue_id, flag, sys_flag, born, born_host, reconsume, body, props = (
            entry[:10]
        )
        body_len = len(body)
        props_len = len(props)
        size = RECORD_OVERHEAD - 1 + body_len + len(topic_field) + props_len
        if pos + size + END_FILE_MIN_BLANK_LENGTH > file_size:
            try:
                _write(mapped, parts)
            except DiskFullError as exc:
                refusal = f"service not available now: the broker's disk is full ({exc})"
                break
            written = len(sizes)
            parts = []
            mapped.reserve(mapped.wrote_position + END_FILE_MIN_BLANK_LENGTH)
            mapped.append(encode_blank(mapped.remaining))
            mapped.wrote_position = mapped.file_size  # the marker stands for the rest
            mapped = log.queue.file_for_append()  # type: ignore[attr-defined]
            base = mapped.file_from_offset
            pos = 0
        key = (topic, queue_id)
        queue_offset = table.get(key, 0)
        table[key] = queue_offset + 1
        physical = base + pos
        parts += (
            pack(
                size,
                MESSAGE_MAGIC_CODE,
                crc32(body) & 0x7FFFFFFF,
                queue_id,
                flag,
                queue_offset,
                physical,
                sys_flag,
                born,
                born_host,
                stamp_host,
                reconsume,
                0,
                body_len,
            ),
            body,
            topic_field,
            _PROPS_LEN.pack(props_len),
            props,
        )
        physical_offsets.append(physical)
        queue_offsets.append(queue_offset)
        sizes.append(size)
        pos += size
    else:
        try:
            _write(mapped, parts)
            written = len(sizes)
        except DiskFullError as exc:
            refusal = f"service not available now: the broker's disk is full ({exc})"
    if written < len(sizes):  # give the unwritten records' queue offsets back
        for entry in reversed(entries[written : len(sizes)]):
            table[(entry[0], entry[2])] -= 1
        del physical_offsets[written:], queue_offsets[written:], sizes[written:]
    if written:
        log.last_store_timestamp = now  # type: ignore[attr-defined]
        end = physical_offsets[-1] + sizes[-1]
    else:
        end = start
    return AppendedSends(
        written, start, end, now, physical_offsets, queue_offsets, sizes, refusal
    )


def _write(mapped: object, parts: list[bytes]) -> None:
    if not parts:
        return
    data = b"".join(parts)
    # Blocks first: a store into a hole on a full disk would be SIGBUS, not an error.
    mapped.reserve(mapped.wrote_position + len(data))  # type: ignore[attr-defined]
    mapped.append(data)  # type: ignore[attr-defined]


def dispatch_requests(entries: list[SendEntry], appended: AppendedSends) -> list[DispatchRequest]:
    """What check_record would parse back from each written record (for reput)."""
    requests = []
    for i in range(appended.count):
        entry = entries[i]
        requests.append(
            DispatchRequest(
                topic=entry[0],
                queue_id=entry[2],
                commit_log_offset=appended.physical_offsets[i],
                msg_size=appended.sizes[i],
                tags_code=entry[10],
                store_timestamp=appended.store_timestamp,
                consume_queue_offset=appended.queue_offsets[i],
                sys_flag=entry[4],
                prepared_transaction_offset=0,
                keys=entry[12],
                uniq_key=entry[11],
            )
        )
    return requests
