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


@dataclass(slots=True)
class SendsLayout:
    """Records laid out by `lay_out_sends`: their bytes in runs that each fit in one
    segment, and where every record goes."""

    store_timestamp: int
    runs: list[tuple[int, list[bytes], int]]  # (physical start, record parts, records)
    physical_offsets: list[int]
    queue_offsets: list[int]
    sizes: list[int]

    def appended(self, count: int, refusal: str | None) -> AppendedSends:
        """The first `count` records were stored; the rest were refused for `refusal`."""
        del self.physical_offsets[count:], self.queue_offsets[count:], self.sizes[count:]
        start = self.runs[0][0] if self.runs else 0
        end = self.physical_offsets[-1] + self.sizes[-1] if count else start
        return AppendedSends(
            count,
            start,
            end,
            self.store_timestamp,
            self.physical_offsets,
            self.queue_offsets,
            self.sizes,
            refusal,
        )


def lay_out_sends(
    commit_log: object, entries: list[SendEntry], store_host: bytes, end_offset: int
) -> SendsLayout:
    """Encode `entries` as records of a log ending at `end_offset`, writing nothing.

    Assigns the store timestamp, physical offsets and queue offsets (the commit log's
    queue table moves on at once: `give_back_queue_offsets` undoes it for records that
    are then not stored). A record that does not fit in the segment with the end-of-file
    reserve starts a new run at the next segment. Every record must fit in one segment
    (the lane checks sizes).
    """
    log = commit_log  # typed loosely: CommitLog imports this module
    now = time.time_ns() // 1_000_000
    if now < log.last_store_timestamp:  # type: ignore[attr-defined]
        now = log.last_store_timestamp  # type: ignore[attr-defined]
    stamp_host = now.to_bytes(8, "big") + store_host
    table = log.topic_queue_table  # type: ignore[attr-defined]
    file_size = log.file_size  # type: ignore[attr-defined]
    pack = _FIXED_V4.pack
    crc32 = zlib.crc32
    runs: list[tuple[int, list[bytes], int]] = []
    run_start = physical = end_offset
    pos = end_offset % file_size
    parts: list[bytes] = []
    run_first = 0  # index of the run's first record
    physical_offsets: list[int] = []
    queue_offsets: list[int] = []
    sizes: list[int] = []
    for entry in entries:
        topic, topic_field, queue_id, flag, sys_flag, born, born_host, reconsume, body, props = (
            entry[:10]
        )
        body_len = len(body)
        props_len = len(props)
        size = RECORD_OVERHEAD - 1 + body_len + len(topic_field) + props_len
        if pos + size + END_FILE_MIN_BLANK_LENGTH > file_size:
            if parts:
                runs.append((run_start, parts, len(sizes) - run_first))
                parts = []
                run_first = len(sizes)
            run_start = physical = physical + file_size - pos
            pos = 0
        key = (topic, queue_id)
        queue_offset = table.get(key, 0)
        table[key] = queue_offset + 1
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
        physical += size
        pos += size
    if parts:
        runs.append((run_start, parts, len(sizes) - run_first))
    return SendsLayout(now, runs, physical_offsets, queue_offsets, sizes)


def give_back_queue_offsets(commit_log: object, entries: list[SendEntry]) -> None:
    """Undo lay_out_sends's queue offsets for `entries` (the last ones it laid out)."""
    table = commit_log.topic_queue_table  # type: ignore[attr-defined]
    for entry in reversed(entries):
        table[(entry[0], entry[2])] -= 1


def append_sends(
    commit_log: object, entries: list[SendEntry], store_host: bytes
) -> AppendedSends:
    """Lay out and write `entries` at the end of `commit_log` (a CommitLog): one copy per
    segment; a record that does not fit closes the segment with the end-of-file marker
    and goes to the next one, as CommitLog.append does."""
    log = commit_log
    mapped = log.queue.file_for_append()  # type: ignore[attr-defined]
    layout = lay_out_sends(log, entries, store_host, mapped.end_offset)
    written = 0
    refusal = None
    for run_start, parts, count in layout.runs:
        try:
            if run_start != mapped.end_offset:  # the run goes to the next segment
                mapped.reserve(mapped.wrote_position + END_FILE_MIN_BLANK_LENGTH)
                mapped.append(encode_blank(mapped.remaining))
                mapped.wrote_position = mapped.file_size  # the marker stands for the rest
                mapped = log.queue.file_for_append()  # type: ignore[attr-defined]
            _write(mapped, parts)
        except DiskFullError as exc:
            refusal = f"service not available now: the broker's disk is full ({exc})"
            break
        written += count
    if written < len(entries):
        give_back_queue_offsets(log, entries[written:])
    if written:
        log.last_store_timestamp = layout.store_timestamp  # type: ignore[attr-defined]
    return layout.appended(written, refusal)


def _write(mapped: object, parts: list[bytes]) -> None:
    if not parts:
        return
    data = b"".join(parts)
    # Blocks first: a store into a hole on a full disk would be SIGBUS, not an error.
    mapped.reserve(mapped.wrote_position + len(data))  # type: ignore[attr-defined]
    mapped.append(data)  # type: ignore[attr-defined]


def dispatch_requests(
    entries: list[SendEntry],
    placed: AppendedSends | SendsLayout,
    first: int = 0,
    stop: int | None = None,
) -> list[DispatchRequest]:
    """What check_record would parse back from records entries[first:stop] (default:
    every stored one) as `placed` laid them out (for reput)."""
    if stop is None:
        stop = placed.count if isinstance(placed, AppendedSends) else len(placed.sizes)
    return [
        DispatchRequest(
            topic=entries[i][0],
            queue_id=entries[i][2],
            commit_log_offset=placed.physical_offsets[i],
            msg_size=placed.sizes[i],
            tags_code=entries[i][10],
            store_timestamp=placed.store_timestamp,
            consume_queue_offset=placed.queue_offsets[i],
            sys_flag=entries[i][4],
            prepared_transaction_offset=0,
            keys=entries[i][12],
            uniq_key=entries[i][11],
        )
        for i in range(first, stop)
    ]
